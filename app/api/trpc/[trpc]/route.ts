import { trpc } from "@/server/http/routes/trpc";

export const dynamic = "force-dynamic";
export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = trpc;
