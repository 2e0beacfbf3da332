import { llmGenerate } from "@/server/http/routes/llm";

export const dynamic = "force-dynamic";
export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = llmGenerate;
