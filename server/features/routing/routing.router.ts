import "server-only";
// routing.*: the deployments of the models the configuration file and the dashboard route, with
// their state now (this instance's view; shared cooldowns from Redis). Anyone signed in reads it
// (no key is in it); admins add, edit and remove the dashboard's deployments.
import { z } from "zod";
import { safeString } from "../../kernel/validation.ts";
import { ROUTING_STRATEGIES } from "../../providers/config/config-file.ts";
import { adminProcedure, createTRPCRouter, protectedProcedure } from "../../trpc/init.ts";
import { deploymentsOverview } from "./overview.ts";
import { deleteStoredDeployment, deploymentEntrySchema, listStoredDeployments, saveStoredDeployment } from "./stored-deployments.ts";

const deploymentId = safeString.min(1).max(128);

const deploymentOutput = z.object({
  id: z.string(),
  source: z.enum(["file", "dashboard"]),
  provider: z.string(),
  providerModel: z.string(),
  weight: z.number(),
  priority: z.number(),
  rpm: z.number().nullable(),
  tpm: z.number().nullable(),
  region: z.string().nullable(),
  tags: z.array(z.string()),
  price: z.object({ input: z.string(), output: z.string() }).nullable(),
  status: z.enum(["ok", "cooling", "unavailable"]),
  reason: z.string().nullable(),
  cooldownMs: z.number(),
  latencyMs: z.number().nullable(),
  inFlight: z.number(),
  requests: z.number(),
  failures: z.number(),
});

export const routingRouter = createTRPCRouter({
  deployments: protectedProcedure
    .output(z.array(z.object({ model: z.string(), strategy: z.enum(ROUTING_STRATEGIES), deployments: z.array(deploymentOutput) })))
    .query(() => deploymentsOverview()),

  /** The dashboard's deployments as stored: each a file `models:` entry (for the edit form). */
  storedDeployments: adminProcedure
    .output(z.array(z.object({ id: z.string(), entry: deploymentEntrySchema, createdBy: z.string().nullable(), updatedAt: z.date() })))
    .query(() => listStoredDeployments()),

  /** Adds a deployment (or, with `replace`, edits the one of that id): a file `models:` entry of a catalogue model. */
  saveDeployment: adminProcedure
    .input(z.object({ entry: deploymentEntrySchema, replace: deploymentId.optional() }))
    .mutation(({ input, ctx }) =>
      saveStoredDeployment(input.entry, { replace: input.replace, actor: actorOf(ctx.identity), auditActor: ctx.identity }),
    ),

  deleteDeployment: adminProcedure.input(z.object({ id: deploymentId })).mutation(async ({ input, ctx }) => {
    await deleteStoredDeployment(input.id, ctx.identity);
    return { deleted: input.id };
  }),
});

function actorOf(identity: { kind: string; userId?: string | null; apiKeyId?: string | null }): string | null {
  return identity.userId ?? identity.apiKeyId ?? null;
}
