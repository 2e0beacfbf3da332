import { openApi } from "@/server/http/routes/openapi";

export const dynamic = "force-dynamic";
export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = openApi;
