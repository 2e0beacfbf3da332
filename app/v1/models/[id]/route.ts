import { openaiModelById } from "@/server/http/routes/openai";

export const dynamic = "force-dynamic";
export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = openaiModelById;
