// Small helpers shared by the benchmarks: latency percentiles, a fixed-concurrency load loop, and
// the server process a benchmark measures.
import type { DatabaseHandle } from "../server/db/index.ts";
import type { Servers, StartServerOptions } from "../tests/support/host.ts";

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export type LoadResult = { requests: number; seconds: number; rps: number; p50: number; p99: number; mean: number; errors: number };

/** Runs `once` from `concurrency` loops until `total` calls are done; latencies in ms. */
export async function load(total: number, concurrency: number, once: () => Promise<boolean>): Promise<LoadResult> {
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        const t = performance.now();
        const ok = await once().catch(() => false);
        latencies.push(performance.now() - t);
        if (!ok) errors++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    seconds,
    rps: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
    errors,
  };
}

export const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");

export type BenchServerOptions = Omit<StartServerOptions, "database" | "seed"> & {
  /** A PostgreSQL database of the caller's (kept, maybe used before); an embedded one by default. */
  databaseUrl?: string;
  /** The premium key with the generate scope the benchmark calls with (upserted: a database may be reused). */
  key: { name: string; secret: string; monthlyBudgetUsd?: string };
  /** Runs on the database after the key is written, before the server starts. */
  seed?: (db: DatabaseHandle) => Promise<void>;
};

/**
 * A server process for a benchmark (startServer of tests/support/host.ts), with its key and a rate
 * limiter that runs on every request but never refuses: the benchmarks measure the path. The
 * server's modules load only now, after the benchmark has set its environment.
 */
export async function startBenchServer(options: BenchServerOptions): Promise<Servers> {
  const { startServer } = await import("../tests/support/host.ts");
  const { hashApiKey } = await import("../server/access/auth.ts");
  const { databaseUrl, key, seed, env, ...rest } = options;
  return startServer({
    ...rest,
    database: databaseUrl ? { url: databaseUrl } : "pglite",
    env: { RATE_LIMITS: '{"generate":"1000000000/minute","tier:premium":"1000000000/hour"}', ...env },
    seed: async (db) => {
      const keyHash = hashApiKey(key.secret);
      await db.prisma.apiKey.upsert({
        where: { keyHash },
        create: {
          name: key.name,
          prefix: key.secret.slice(0, 10),
          keyHash,
          tier: "premium",
          scopes: ["generate"],
          monthlyBudgetUsd: key.monthlyBudgetUsd ?? null,
        },
        update: {},
      });
      await seed?.(db);
    },
  });
}
