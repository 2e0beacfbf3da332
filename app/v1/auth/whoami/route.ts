import { whoami } from "@/server/http/routes/auth";

export const dynamic = "force-dynamic";
export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = whoami;
