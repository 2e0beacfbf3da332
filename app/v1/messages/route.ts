import { anthropicMessages } from "@/server/http/routes/anthropic";

export const dynamic = "force-dynamic";
export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = anthropicMessages;
