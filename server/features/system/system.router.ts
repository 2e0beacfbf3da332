import "server-only";
import { z } from "zod";
import { seedDemoUsage } from "./demo-usage.ts";
import { healthReport, systemInfo } from "./system.ts";
import { adminProcedure, createTRPCRouter, publicProcedure } from "../../trpc/init.ts";

const systemInfoOutput = z.object({
  name: z.string(),
  /** Admins only. */
  version: z.string().optional(),
  database: z.enum(["pglite", "postgres"]),
  vectorBackend: z.enum(["pgvector", "qdrant"]),
  rateLimitStore: z.enum(["memory", "redis"]),
  /** Admins only. */
  nodeVersion: z.string().optional(),
});

export const systemRouter = createTRPCRouter({
  /** Which database and vector backend are in use; versions for admins only. */
  info: publicProcedure
    .input(z.void())
    .output(systemInfoOutput)
    .query(({ ctx }) => systemInfo({ admin: ctx.identity.kind !== "anonymous" && ctx.identity.role === "admin" })),
  /** The same report as GET /health (an admin's: versions and error text), for the dashboard. */
  health: adminProcedure.input(z.void()).query(() => healthReport({ admin: true })),
  /** The usage page's "load demo data" button (the CLI's seed-demo): 30 days of demo usage for the signed-in admin. Running it
      again adds nothing for days already written. */
  seedDemo: adminProcedure
    .input(z.object({ days: z.number().int().min(1).max(30).optional() }).optional())
    .output(z.object({ events: z.number(), inserted: z.number(), from: z.string(), to: z.string(), keys: z.array(z.string()) }))
    .mutation(async ({ ctx, input }) => {
      const email = ctx.identity.kind === "session" ? (ctx.identity.email ?? undefined) : undefined;
      const r = await seedDemoUsage({ days: input?.days ?? 30, perDay: 150, userEmail: email });
      return { events: r.events, inserted: r.inserted, from: r.from, to: r.to, keys: r.keys };
    }),
});
