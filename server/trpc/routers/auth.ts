import "server-only";
// auth.me: who the caller is (as the same `authenticate` sees them), and their budgets.
import { z } from "zod";
import { budgetStates } from "../../services/budgets.ts";
import { getUser } from "../../services/users.ts";
import { createTRPCRouter, protectedProcedure } from "../init.ts";

export const authRouter = createTRPCRouter({
  me: protectedProcedure
    .input(z.void())
    .output(
      z.object({
        kind: z.enum(["apiKey", "session", "jwt"]),
        userId: z.string().nullable(),
        email: z.string().nullable(),
        apiKeyId: z.string().nullable(),
        role: z.enum(["admin", "user"]),
        tier: z.enum(["basic", "standard", "premium"]),
        scopes: z.array(z.string()),
        budgets: z.array(z.object({ scope: z.enum(["api_key", "user"]), budgetUsd: z.string(), spentUsd: z.string(), exceeded: z.boolean() })),
      }),
    )
    .query(async ({ ctx }) => {
      const who = ctx.identity;
      const user = who.userId ? await getUser(who.userId) : null;
      return {
        kind: who.kind,
        userId: who.userId,
        email: user?.email ?? null,
        apiKeyId: who.apiKeyId,
        role: who.role,
        tier: who.tier,
        scopes: who.scopes,
        budgets: await budgetStates(who),
      };
    }),
});
