import "server-only";
// The root router: one router file per area, merged here.
import { createCallerFactory, createTRPCRouter } from "../trpc/init.ts";
import { generationRouter } from "../features/inference/index.ts";
import { systemRouter } from "../features/system/index.ts";
import { keysRouter } from "../features/accounts/index.ts";
import { authRouter } from "../features/accounts/index.ts";
import { auditRouter } from "../features/accounts/index.ts";
import { teamsRouter } from "../features/accounts/index.ts";
import { usersRouter } from "../features/accounts/index.ts";
import { modelsRouter } from "../features/catalogue/index.ts";
import { vectorsRouter } from "../features/vectors/index.ts";
import { embeddingsRouter } from "../features/inference/index.ts";
import { usageRouter } from "../features/usage/index.ts";
import { budgetAlertsRouter } from "../features/budgets/index.ts";
import { providersRouter } from "../features/catalogue/index.ts";
import { routingRouter } from "../features/routing/index.ts";

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
  routing: routingRouter,
  audit: auditRouter,
  teams: teamsRouter,
  users: usersRouter,
});

export type AppRouter = typeof appRouter;

/** Server-side caller, for tests and server components. */
export const createCaller = createCallerFactory(appRouter);
