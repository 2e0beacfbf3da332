import "server-only";
// providers.*: every provider with its type, where it was configured (environment, file,
// dashboard), its status and last error, and a connection test; an admin adds, edits and removes
// the run-time ones. A saved secret is never returned (only a masked tail); every instance picks a
// change up within seconds (credentials.ts).
import { z } from "zod";
import { adminProcedure, createTRPCRouter } from "../../trpc/init.ts";
import { listProviderViews, removeProvider, saveProvider, testProviderConnection } from "./providers.ts";

const errorKind = z.enum(["invalid_request", "auth", "not_found", "rate_limited", "server", "connection", "timeout", "unavailable"]);

const providerOutput = z.object({
  id: z.string(),
  name: z.string(),
  /** azure-openai, bedrock, gemini, vertex, openai, anthropic, openai-compatible or local. */
  type: z.string(),
  source: z.enum(["environment", "file", "dashboard"]),
  available: z.boolean(),
  reason: z.string().nullable(),
  /** The provider's last failure seen by this instance: its message (never a key) and when. */
  lastError: z.object({ message: z.string(), kind: errorKind, status: z.number().int().nullable(), at: z.date() }).nullable(),
  /** Run-time providers: the type, the settings (no secret), which secrets are set and the main one's masked tail. */
  stored: z
    .object({
      type: z.string(),
      settings: z.record(z.string(), z.unknown()),
      secrets: z.array(z.string()),
      secretTail: z.string(),
      updatedAt: z.string(),
    })
    .nullable(),
});

const connectionTestOutput = z.object({
  id: z.string(),
  ok: z.boolean(),
  latencyMs: z.number().int().nonnegative(),
  error: z.object({ kind: z.union([errorKind, z.literal("unexpected")]), message: z.string() }).nullable(),
  testedAt: z.date(),
});

const providerId = z.string().max(63);

export const providersRouter = createTRPCRouter({
  list: adminProcedure.output(z.array(providerOutput)).query(() => listProviderViews()),

  /** Adds or replaces a run-time provider: `provider` as the configuration file writes one ({type, api_key, endpoint, ...}); a secret left out keeps its stored value. */
  save: adminProcedure
    .input(z.object({ id: providerId, provider: z.record(z.string(), z.unknown()) }))
    .output(providerOutput)
    .mutation(async ({ ctx, input }) => {
      // This instance at once; the others on their next poll.
      await saveProvider(ctx.identity, input);
      return (await listProviderViews()).find((p) => p.id === input.id)!;
    }),

  remove: adminProcedure
    .input(z.object({ id: providerId }))
    .output(z.object({ id: z.string() }))
    .mutation(async ({ ctx, input }) => {
      await removeProvider(ctx.identity, input.id);
      return { id: input.id };
    }),

  /** A cheap real call to the provider (its model list, or the SDK's cheapest call) within 10 s: ok and the latency, or the error. */
  test: adminProcedure
    .input(z.object({ id: providerId }))
    .output(connectionTestOutput)
    .mutation(({ input }) => testProviderConnection(input.id)),
});
