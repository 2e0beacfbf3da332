import { handlers } from "@/server/api/dashboard/next-auth";

export const dynamic = "force-dynamic";
export const { GET, POST } = handlers;
