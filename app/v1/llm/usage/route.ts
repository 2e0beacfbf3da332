import { llmUsage } from "@/server/http/routes/usage";

export const dynamic = "force-dynamic";
export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = llmUsage;
