import "server-only";
// auth.me: who the caller is (as the same `authenticate` sees them), and their budgets;
// auth.signOutEverywhere: ends every dashboard session of the caller's account.
import { z } from "zod";
import { ROLES, SCOPES, TIERS } from "../../../lib/access.ts";
import { budgetStates } from "../budgets/index.ts";
import { AppError } from "../../kernel/errors.ts";
import { getUser } from "../../access/user-lookup.ts";
import { endAllSessions } from "./users.ts";
import { createTRPCRouter, protectedProcedure } from "../../trpc/init.ts";

export const authRouter = createTRPCRouter({
  me: protectedProcedure
    .input(z.void())
    .output(
      z.object({
        kind: z.enum(["apiKey", "session", "jwt"]),
        userId: z.string().nullable(),
        email: z.string().nullable(),
        apiKeyId: z.string().nullable(),
        role: z.enum(ROLES),
        tier: z.enum(TIERS),
        scopes: z.array(z.enum(SCOPES)),
        budgets: z.array(
          z.object({
            scope: z.enum(["api_key", "user", "team"]),
            period: z.enum(["day", "week", "month"]),
            budgetUsd: z.string(),
            spentUsd: z.string(),
            exceeded: z.boolean(),
          }),
        ),
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

  /** Ends every dashboard session of the caller's account (this one too); from a session or a platform JWT, not an API key. */
  signOutEverywhere: protectedProcedure
    .input(z.void())
    .output(z.object({ ended: z.literal(true) }))
    .mutation(async ({ ctx }) => {
      const who = ctx.identity;
      if (who.kind === "apiKey" || !who.userId)
        throw new AppError("forbidden", "Sign out everywhere from the dashboard or with a platform JWT, not with an API key");
      await endAllSessions(who.userId);
      return { ended: true as const };
    }),
});
