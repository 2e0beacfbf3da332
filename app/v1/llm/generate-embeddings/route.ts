import { llmGenerateEmbeddings } from "@/server/http/routes/embeddings";

export const dynamic = "force-dynamic";
export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = llmGenerateEmbeddings;
