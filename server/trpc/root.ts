import "server-only";
// The root router: one router file per area, merged here.
import { createCallerFactory, createTRPCRouter } from "./init.ts";
import { systemRouter } from "./routers/system.ts";

export const appRouter = createTRPCRouter({
  system: systemRouter,
});

export type AppRouter = typeof appRouter;

/** Server-side caller, for tests and server components. */
export const createCaller = createCallerFactory(appRouter);
