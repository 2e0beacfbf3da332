import "server-only";
// What the service is and how its dependencies are doing: `system.info` and GET /health.
import pkg from "../../package.json" with { type: "json" };
import { checkDatabase, databaseKind } from "../db/index.ts";
import { loadEnv } from "../env.ts";
import { isShuttingDown } from "../lifecycle.ts";
import { checkRedis } from "../redis.ts";
import { vectorHealth } from "./vectors.ts";

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

/** Checks each dependency; `status` is ok only when every configured one but the vector store answers. */
export async function healthReport(): Promise<HealthReport> {
  const env = loadEnv();
  const [database, redis, vectors] = await Promise.all([checkDatabase(), checkRedis(), vectorHealth()]);
  const dependencies: Record<string, DependencyState> = {
    database: state(database, databaseKind()),
    redis: env.REDIS_URL ? state(redis, "redis") : { status: "not_configured" },
    vectors: state(vectors, vectors.backend),
  };
  // The vector store is reported but not counted: everything but /v1/vector works without it
  // (PostgreSQL without pgvector, Qdrant down), so it must not take the service out of rotation.
  const failing = Object.entries(dependencies).some(([name, d]) => name !== "vectors" && d.status === "error");
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
