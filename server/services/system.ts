import "server-only";
// What the service is and how its dependencies are doing: `system.info` and GET /health.
import pkg from "../../package.json" with { type: "json" };
import { checkDatabase, databaseKind } from "../db/index.ts";
import { loadEnv } from "../env.ts";
import { isShuttingDown } from "../lifecycle.ts";
import { checkRedis } from "../redis.ts";

export type DependencyState = {
  status: "ok" | "error" | "not_configured";
  latency_ms?: number;
  message?: string;
  backend?: string;
};

export type HealthReport = {
  status: "ok" | "degraded" | "shutting_down";
  version: string;
  uptime_seconds: number;
  dependencies: Record<string, DependencyState>;
};

export type SystemInfo = {
  name: string;
  version: string;
  database: "pglite" | "postgres";
  vectorBackend: "pgvector" | "qdrant";
  rateLimitStore: "memory" | "redis";
  nodeVersion: string;
};

export function vectorBackend(): SystemInfo["vectorBackend"] {
  return loadEnv().qdrantUrl ? "qdrant" : "pgvector";
}

export function systemInfo(): SystemInfo {
  const env = loadEnv();
  return {
    name: pkg.name,
    version: pkg.version,
    database: databaseKind(),
    vectorBackend: vectorBackend(),
    rateLimitStore: env.REDIS_URL ? "redis" : "memory",
    nodeVersion: process.version,
  };
}

/** Checks each dependency; `status` is ok only when every configured one answers. */
export async function healthReport(): Promise<HealthReport> {
  const env = loadEnv();
  const [database, redis] = await Promise.all([checkDatabase(), checkRedis()]);
  const dependencies: Record<string, DependencyState> = {
    database: state(database, databaseKind()),
    redis: env.REDIS_URL ? state(redis, "redis") : { status: "not_configured" },
  };
  const failing = Object.values(dependencies).some((d) => d.status === "error");
  return {
    status: isShuttingDown() ? "shutting_down" : failing ? "degraded" : "ok",
    version: pkg.version,
    uptime_seconds: Math.round(process.uptime()),
    dependencies,
  };
}

function state(check: { ok: boolean; latencyMs: number; error?: string }, backend: string): DependencyState {
  return check.ok
    ? { status: "ok", latency_ms: check.latencyMs, backend }
    : { status: "error", latency_ms: check.latencyMs, backend, message: check.error ?? "unavailable" };
}
