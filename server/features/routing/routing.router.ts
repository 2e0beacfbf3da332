import "server-only";
// routing.*: the deployments of the models the configuration file routes, with their state now
// (this instance's view; shared cooldowns from Redis). Anyone signed in reads it (no key is in it).
import { z } from "zod";
import { ROUTING_STRATEGIES } from "../../providers/config/config-file.ts";
import { createTRPCRouter, protectedProcedure } from "../../trpc/init.ts";
import { deploymentsOverview } from "./overview.ts";

const deploymentOutput = z.object({
  id: z.string(),
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
});
