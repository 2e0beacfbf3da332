import "server-only";
import { z } from "zod";
import { healthReport, systemInfo } from "../../services/system.ts";
import { adminProcedure, createTRPCRouter, publicProcedure } from "../init.ts";

const systemInfoOutput = z.object({
  name: z.string(),
  version: z.string(),
  database: z.enum(["pglite", "postgres"]),
  vectorBackend: z.enum(["pgvector", "qdrant"]),
  rateLimitStore: z.enum(["memory", "redis"]),
  nodeVersion: z.string(),
});

export const systemRouter = createTRPCRouter({
  /** Version, and which database and vector backend are in use. */
  info: publicProcedure.input(z.void()).output(systemInfoOutput).query(() => systemInfo()),
  /** The same report as GET /health, for the dashboard. */
  health: adminProcedure.input(z.void()).query(() => healthReport()),
});
