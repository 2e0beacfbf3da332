import "server-only";
// users.*: the admin Users page's procedures (#20 item 4): list the dashboard accounts, create one
// (an initial password the admin passes on), change a role or budget, disable or enable. The same
// feature code as the CLI's `users` commands; every change is audited with the admin as its actor.
import { z } from "zod";
import { BUDGET_PERIODS, ROLES } from "../../../lib/access.ts";
import { AppError } from "../../kernel/errors.ts";
import { safeString } from "../../kernel/validation.ts";
import { adminProcedure, createTRPCRouter } from "../../trpc/init.ts";
import { createUser, emailSchema, listUsers, passwordSchema, updateUser, usdSchema } from "./users.ts";
import type { UserRecord } from "../../access/user-lookup.ts";

const userOutput = z.object({
  id: z.string(),
  email: z.string().nullable(),
  name: z.string().nullable(),
  role: z.enum(ROLES),
  /** Set for accounts of the platform's JWTs (no password). */
  externalId: z.string().nullable(),
  monthlyBudgetUsd: z.string().nullable(),
  budgetPeriod: z.enum(BUDGET_PERIODS),
  disabledAt: z.date().nullable(),
  createdAt: z.date(),
});

const view = (u: UserRecord): z.infer<typeof userOutput> => ({
  id: u.id,
  email: u.email,
  name: u.name,
  role: u.role,
  externalId: u.externalId,
  monthlyBudgetUsd: u.monthlyBudgetUsd,
  budgetPeriod: u.budgetPeriod,
  disabledAt: u.disabledAt,
  createdAt: u.createdAt,
});

export const usersRouter = createTRPCRouter({
  list: adminProcedure
    .input(z.void())
    .output(z.array(userOutput))
    .query(async () => (await listUsers()).map(view)),

  create: adminProcedure
    .input(
      z.object({
        email: emailSchema,
        password: passwordSchema,
        role: z.enum(ROLES).optional(),
        name: safeString.max(200).nullish(),
        monthlyBudgetUsd: usdSchema.nullish(),
        budgetPeriod: z.enum(BUDGET_PERIODS).optional(),
      }),
    )
    .output(userOutput)
    .mutation(async ({ ctx, input }) => view(await createUser(input, ctx.identity))),

  update: adminProcedure
    .input(
      z.object({
        id: safeString.min(1).max(200),
        change: z.object({
          role: z.enum(ROLES).optional(),
          monthlyBudgetUsd: usdSchema.nullable().optional(),
          budgetPeriod: z.enum(BUDGET_PERIODS).optional(),
          disabled: z.boolean().optional(),
        }),
      }),
    )
    .output(userOutput)
    .mutation(async ({ ctx, input }) => {
      // An admin cannot lock themselves out from the dashboard (the CLI still can change any account).
      if (ctx.identity.userId === input.id && (input.change.disabled === true || input.change.role === "user"))
        throw new AppError("forbidden", "You cannot disable your own account or take away your own admin role; ask another admin");
      return view(await updateUser(input.id, input.change, ctx.identity));
    }),
});
