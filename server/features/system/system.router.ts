import "server-only";
import { z } from "zod";
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
});
