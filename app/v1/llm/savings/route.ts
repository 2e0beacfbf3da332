import { llmSavings } from "@/server/http/routes/savings";

export const dynamic = "force-dynamic";
export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = llmSavings;
