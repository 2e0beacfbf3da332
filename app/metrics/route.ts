import { metrics } from "@/server/http/routes/metrics";

export const dynamic = "force-dynamic";
export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = metrics;
