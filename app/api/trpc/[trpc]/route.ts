import { trpcHandler } from "@/server/trpc/handler";

export const dynamic = "force-dynamic";
export { trpcHandler as GET, trpcHandler as POST };
