import "server-only";
// The root router: one router file per area, merged here.
import { createCallerFactory, createTRPCRouter } from "./init.ts";
import { generationRouter } from "./routers/generation.ts";
import { systemRouter } from "./routers/system.ts";
import { keysRouter } from "./routers/keys.ts";
import { authRouter } from "./routers/auth.ts";
import { modelsRouter } from "./routers/models.ts";
import { vectorsRouter } from "./routers/vectors.ts";
import { embeddingsRouter } from "./routers/embeddings.ts";
import { usageRouter } from "./routers/usage.ts";
import { budgetAlertsRouter } from "./routers/budget-alerts.ts";
import { providersRouter } from "./routers/providers.ts";

export const appRouter = createTRPCRouter({
  system: systemRouter,
  generation: generationRouter,
  keys: keysRouter,
  auth: authRouter,
  models: modelsRouter,
  vectors: vectorsRouter,
  embeddings: embeddingsRouter,
  usage: usageRouter,
  budgetAlerts: budgetAlertsRouter,
  providers: providersRouter,
});

export type AppRouter = typeof appRouter;

/** Server-side caller, for tests and server components. */
export const createCaller = createCallerFactory(appRouter);
