import "server-only";
// keys.*: the dashboard's keys page (and any tRPC client): list, create, revoke, rotate.
// A user sees and manages their own keys and their teams' (as the team access policy allows); an admin all of them. The secret is in the answer to
// create and rotate only, once.
import { z } from "zod";
import { safeString } from "../../kernel/validation.ts";
import {
  createApiKey,
  createKeyInput,
  listApiKeys,
  revokeApiKey,
  rotateApiKey,
  setApiKeyResponseCache,
  updateApiKey,
  updateKeyInput,
} from "./keys.ts";
import { TIERS } from "../../access/auth.ts";
import { teamRefSchema } from "./teams.ts";
import { BUDGET_PERIODS } from "../../access/identity.ts";
import { createTRPCRouter, procedure, protectedProcedure } from "../../trpc/init.ts";

const apiKeyOutput = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  tier: z.enum(TIERS),
  scopes: z.array(z.string()),
  isAdmin: z.boolean(),
  userId: z.string().nullable(),
  userEmail: z.string().nullable(),
  teamId: z.string().nullable(),
  teamName: z.string().nullable(),
  monthlyBudgetUsd: z.string().nullable(),
  budgetPeriod: z.enum(BUDGET_PERIODS),
  allowedModels: z.array(z.string()),
  rpmLimit: z.number().nullable(),
  tpmLimit: z.number().nullable(),
  maxParallel: z.number().nullable(),
  cacheResponses: z.boolean(),
  logBodies: z.boolean().nullable(),
  lastUsedAt: z.date().nullable(),
  expiresAt: z.date().nullable(),
  revokedAt: z.date().nullable(),
  createdAt: z.date(),
});

const withSecret = z.object({ key: z.string(), apiKey: apiKeyOutput });
const byId = z.object({ id: safeString.min(1).max(100) });

export const keysRouter = createTRPCRouter({
  /** Active keys (and revoked ones on request), newest first; an API key needs `usage:read` to see them. */
  list: procedure({ access: "user", scope: "usage:read" })
    .input(z.object({ includeRevoked: z.boolean().optional(), team: teamRefSchema.optional() }).optional())
    .output(z.array(apiKeyOutput))
    .query(({ ctx, input }) => listApiKeys(ctx.identity, { includeRevoked: input?.includeRevoked, team: input?.team })),

  /** A new key; `key` is the secret, shown this once. */
  create: protectedProcedure
    .input(createKeyInput)
    .output(withSecret)
    .mutation(({ ctx, input }) => createApiKey(ctx.identity, input)),

  /** Changes a key's name, budget and period, expiry, caching and its own limits; null removes one. */
  update: protectedProcedure
    .input(byId.extend({ change: updateKeyInput }))
    .output(apiKeyOutput)
    .mutation(({ ctx, input }) => updateApiKey(ctx.identity, input.id, input.change)),

  revoke: protectedProcedure
    .input(byId)
    .output(apiKeyOutput)
    .mutation(({ ctx, input }) => revokeApiKey(ctx.identity, input.id)),

  /** A new secret for the same key (same id, settings, collections, usage and budget); the old secret stops working at once. */
  rotate: protectedProcedure
    .input(byId)
    .output(withSecret.extend({ previousPrefix: z.string() }))
    .mutation(({ ctx, input }) => rotateApiKey(ctx.identity, input.id)),

  /** Answer the key's generations from the response cache (temperature 0) unless a request says otherwise. */
  setResponseCache: protectedProcedure
    .input(byId.extend({ cacheResponses: z.boolean() }))
    .output(apiKeyOutput)
    .mutation(({ ctx, input }) => setApiKeyResponseCache(ctx.identity, input.id, input.cacheResponses)),
});
