import "server-only";
// What the service is and how its dependencies are doing: `system.info` and GET /health. Both are
// open to anyone, so what helps an attacker more than an operator stays with admins: versions (of
// the service and of Node) and the dependencies' error text (socket errors name hosts and ports).
import pkg from "../../../package.json" with { type: "json" };
import { checkDatabase, databaseKind } from "../../db/index.ts";
import { loadEnv } from "../../kernel/env.ts";
import { isShuttingDown } from "../../kernel/lifecycle.ts";
import { checkRedis } from "../../kernel/redis.ts";
import { vectorHealth } from "../vectors/index.ts";

export type DependencyState = {
  status: "ok" | "error" | "not_configured";
  latency_ms?: number;
  message?: string;
  backend?: string;
};

export type HealthReport = {
  status: "ok" | "degraded" | "shutting_down";
  /** Admins only. */
  version?: string;
  uptime_seconds: number;
  dependencies: Record<string, DependencyState>;
  /** The dependencies that fail, when the status is degraded. */
  degraded?: string[];
};

export type SystemInfo = {
  name: string;
  /** Admins only. */
  version?: string;
  database: "pglite" | "postgres";
  vectorBackend: "pgvector" | "qdrant";
  rateLimitStore: "memory" | "redis";
  /** Admins only. */
  nodeVersion?: string;
};

/** Who asks: admins see versions and error text. */
export type Audience = { admin: boolean };

export function vectorBackend(): SystemInfo["vectorBackend"] {
  return loadEnv().qdrantUrl ? "qdrant" : "pgvector";
}

export function systemInfo(audience: Audience): SystemInfo {
  const env = loadEnv();
  return {
    name: pkg.name,
    ...(audience.admin ? { version: pkg.version } : {}),
    database: databaseKind(),
    vectorBackend: vectorBackend(),
    rateLimitStore: env.REDIS_URL ? "redis" : "memory",
    ...(audience.admin ? { nodeVersion: process.version } : {}),
  };
}

/** How long /health waits for the database's `select 1` (Redis answers from its circuit, or within its own bound). */
const DATABASE_CHECK_MS = 1_500;

/**
 * Checks each dependency; `status` is ok only when every configured one but the vector store
 * answers, and `degraded` names those that do not.
 */
export async function healthReport(audience: Audience): Promise<HealthReport> {
  const env = loadEnv();
  const [database, redis, vectors] = await Promise.all([checkDatabase(DATABASE_CHECK_MS), checkRedis(), vectorHealth()]);
  const dependencies: Record<string, DependencyState> = {
    database: state(database, databaseKind(), audience),
    redis: env.REDIS_URL ? state(redis, "redis", audience) : { status: "not_configured" },
    vectors: state(vectors, vectors.backend, audience),
  };
  // The vector store is reported but not counted: everything but /v1/vector works without it
  // (PostgreSQL without pgvector, Qdrant down), so it must not take the service out of rotation.
  const failing = Object.entries(dependencies).flatMap(([name, d]) => (name !== "vectors" && d.status === "error" ? [name] : []));
  return {
    status: isShuttingDown() ? "shutting_down" : failing.length ? "degraded" : "ok",
    ...(audience.admin ? { version: pkg.version } : {}),
    uptime_seconds: Math.round(process.uptime()),
    dependencies,
    ...(failing.length ? { degraded: failing } : {}),
  };
}

/**
 * Whether the instance should get traffic: not while shutting down, nor without its database.
 * Redis down or hung is degraded but still ready: limits, caches and invalidations fall back to
 * this process (server/kernel/redis.ts), and taking every instance out because a shared Redis fails
 * would turn a partial outage into a whole one.
 */
export function healthHttpStatus(report: HealthReport): 200 | 503 {
  return report.status === "shutting_down" || report.dependencies.database?.status === "error" ? 503 : 200;
}

function state(check: { ok: boolean; latencyMs: number; error?: string }, backend: string, audience: Audience): DependencyState {
  if (check.ok) return { status: "ok", latency_ms: check.latencyMs, backend };
  return { status: "error", latency_ms: check.latencyMs, backend, ...(audience.admin ? { message: check.error ?? "unavailable" } : {}) };
}
