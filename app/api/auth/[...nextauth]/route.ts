import { handlers } from "@/server/http/next-auth";

export const dynamic = "force-dynamic";
export const { GET, POST } = handlers;
