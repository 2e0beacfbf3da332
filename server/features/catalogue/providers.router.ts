import "server-only";
// providers.*: every provider with where it was configured (environment, file, dashboard) and its
// status; an admin adds, edits and removes the run-time ones. A saved secret is never returned
// (only a masked tail); every instance picks a change up within seconds (credentials.ts).
import { z } from "zod";
import { getDatabase } from "../../db/index.ts";
import { AppError } from "../../kernel/errors.ts";
import { CredentialError, deleteCredential, listCredentials, saveCredential } from "../../providers/credentials/credentials.ts";
import { listProviders, providerSource, reservedProviderIds, startRuntimeProviders } from "../../providers/registry.ts";
import { adminProcedure, createTRPCRouter } from "../../trpc/init.ts";

const providerOutput = z.object({
  id: z.string(),
  name: z.string(),
  source: z.enum(["environment", "file", "dashboard"]),
  available: z.boolean(),
  reason: z.string().nullable(),
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

function asAppError(error: unknown): never {
  if (error instanceof CredentialError) {
    throw new AppError(error.code === "invalid" ? "invalid_request" : error.code, error.message);
  }
  throw error;
}

async function list() {
  const stored = new Map((await listCredentials(await getDatabase())).map((c) => [c.id, c]));
  return listProviders().map((p) => {
    const status = p.status();
    const s = stored.get(p.id);
    return {
      id: p.id,
      name: p.name,
      source: providerSource(p.id) ?? "environment",
      available: status.available,
      reason: status.available ? null : status.reason,
      stored: s ? { type: s.type, settings: s.settings, secrets: s.secrets, secretTail: s.secretTail, updatedAt: s.updatedAt } : null,
    };
  });
}

export const providersRouter = createTRPCRouter({
  list: adminProcedure.output(z.array(providerOutput)).query(() => list()),

  /** Adds or replaces a run-time provider: `provider` as the configuration file writes one ({type, api_key, endpoint, ...}); a secret left out keeps its stored value. */
  save: adminProcedure
    .input(z.object({ id: z.string().max(63), provider: z.record(z.string(), z.unknown()) }))
    .output(providerOutput)
    .mutation(async ({ input }) => {
      await saveCredential(await getDatabase(), input, reservedProviderIds()).catch(asAppError);
      // This instance at once; the others on their next poll.
      await (await startRuntimeProviders(getDatabase)).check();
      return (await list()).find((p) => p.id === input.id)!;
    }),

  remove: adminProcedure
    .input(z.object({ id: z.string().max(63) }))
    .output(z.object({ id: z.string() }))
    .mutation(async ({ input }) => {
      await deleteCredential(await getDatabase(), input.id).catch(asAppError);
      await (await startRuntimeProviders(getDatabase)).check();
      return { id: input.id };
    }),
});
