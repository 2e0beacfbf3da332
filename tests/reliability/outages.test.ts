// Outages of PostgreSQL and Redis under load, black-box: one real server process reaches a scratch
// database and Redis through fault proxies of the test's own (tests/support/fault-proxy.ts), which
// stop ("down": connections closed and refused) or hang ("hung": connections accepted and held
// without an answer) while requests keep coming through the REST API. Throughout, every request
// must answer within its deadline (known keys keep generating; what needs the database answers 503
// `unavailable`, never 500), and afterwards every answered generation has exactly one usage row.
// Needs TEST_DATABASE_URL and TEST_REDIS_URL (CI sets both); the machine's own PostgreSQL and
// Redis are never stopped or paused, only the proxies in front of them.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProviderEmulator, type ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { createScratchPostgres, testDatabaseUrl } from "@/tests/support/db.ts";
import { startFaultProxy, targetOf, type FaultMode, type FaultProxy } from "@/tests/support/fault-proxy.ts";
import type { ScratchPostgres } from "@/tests/support/scratch-postgres.ts";
import {
  eventually,
  generate,
  GENERATE_DEADLINE_MS,
  insertKey,
  late,
  load,
  providerEnv,
  send,
  startServer,
  usageRows,
  type Answer,
  type Server,
} from "./harness.ts";

const redisUrl = process.env.TEST_REDIS_URL?.trim();

/** What needs the database answers 503 within the client's read deadline (2.5 s by default) at worst, plus the same room. */
const DATABASE_DEADLINE_MS = 4_000;
/** /health checks each dependency with a bound of its own. */
const HEALTH_DEADLINE_MS = 2_500;
/** How long each outage lasts: past the key cache's longest entry life (10 s), so expired entries are met. */
const OUTAGE_MS = 11_000;

type Health = { status: string; dependencies: Record<string, { status: string; message?: string }> };

describe.runIf(testDatabaseUrl() && redisUrl)("PostgreSQL and Redis outages under load", () => {
  let scratch: ScratchPostgres;
  let emulator: ProviderEmulator;
  let pgProxy: FaultProxy;
  let redisProxy: FaultProxy;
  let server: Server;
  let key: string;
  /** Every generation answered 200, by request id: each must end up with exactly one usage row. */
  const answered = new Set<string>();
  const figures: string[] = [];

  beforeAll(async () => {
    scratch = await createScratchPostgres();
    emulator = await startProviderEmulator({ maxLogEntries: 0 });
    pgProxy = await startFaultProxy(targetOf(scratch.url, 5432));
    redisProxy = await startFaultProxy(targetOf(redisUrl!, 6379));
    server = await startServer({
      ...providerEnv(emulator),
      DATABASE_URL: pgProxy.urlFor(scratch.url),
      REDIS_URL: redisProxy.urlFor(redisUrl!),
      REDIS_KEY_PREFIX: `msrel-${randomBytes(4).toString("hex")}:`,
    });
    key = await insertKey(scratch.url, "outages");
  }, 120_000);

  afterAll(async () => {
    if (figures.length) console.log(`reliability figures:\n  ${figures.join("\n  ")}`);
    await server?.dispose();
    await Promise.all([pgProxy?.close(), redisProxy?.close(), emulator?.close()]);
    await scratch?.drop();
  }, 60_000);

  const note = (a: Answer[]) => {
    for (const x of a) if (x.status === 200) answered.add(x.id);
  };

  /** Generations at 4 at a time for `ms`, with a known key. */
  async function generateFor(ms: number, label: string) {
    const until = Date.now() + ms;
    const all: Answer[] = [];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (Date.now() < until) all.push(await generate(server.url, key, label));
      }),
    );
    note(all);
    return { answers: all, worstMs: Math.max(...all.map((a) => a.ms)) };
  }

  async function health(): Promise<Answer & { report: Health }> {
    const a = await send(server.url, { path: "/health", label: "health" });
    return { ...a, report: JSON.parse(a.body) as Health };
  }

  async function rowsMatchAnswered(): Promise<boolean> {
    const rows = await usageRows(scratch.url);
    const ids = rows.map((r) => r.request_id);
    return [...answered].every((id) => ids.includes(id));
  }

  it.each<[FaultMode]>([["down"], ["hung"]])(
    "PostgreSQL %s: known keys keep generating, what needs the database answers 503 in time",
    async (mode) => {
      const warm = await load(5, 5, () => generate(server.url, key, `pg-${mode}-warm`));
      note(warm.answers);
      expect(warm.answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);

      await pgProxy.set(mode);
      const [generations, database, unknown, report] = await Promise.all([
        generateFor(OUTAGE_MS, `pg-${mode}`),
        // Usage statistics read the database: one every half second through the outage.
        load(12, 1, async () => {
          await new Promise((r) => setTimeout(r, 500));
          return send(server.url, { path: "/v1/llm/usage", key, label: `pg-${mode}-usage` });
        }),
        // A key this instance has never seen cannot be checked without the database.
        load(3, 1, () => generate(server.url, `ms_never_seen_${randomBytes(12).toString("hex")}`, `pg-${mode}-unknown`)),
        new Promise<Answer & { report: Health }>((r) => setTimeout(() => r(health()), 3_000)),
      ]);
      await pgProxy.set("up");

      figures.push(
        `PostgreSQL ${mode}: ${generations.answers.length} generations, ${generations.answers.filter((a) => a.status === 200).length} answered 200, slowest ${Math.round(generations.worstMs)} ms; ` +
          `database reads ${database.answers.map((a) => a.status).join(",")} slowest ${Math.round(database.worstMs)} ms; /health ${report.status} in ${Math.round(report.ms)} ms`,
      );
      expect(late(generations, GENERATE_DEADLINE_MS)).toEqual([]);
      expect(new Set(generations.answers.map((a) => a.status))).toEqual(new Set([200]));
      expect(late(database, DATABASE_DEADLINE_MS)).toEqual([]);
      expect(database.answers.map((a) => [a.status, a.code])).toEqual(database.answers.map(() => [503, "unavailable"]));
      expect(late(unknown, DATABASE_DEADLINE_MS)).toEqual([]);
      expect(unknown.answers.map((a) => [a.status, a.code])).toEqual(unknown.answers.map(() => [503, "unavailable"]));
      expect(report.ms).toBeLessThan(HEALTH_DEADLINE_MS);
      expect(report.status).toBe(503);
      expect(report.report).toMatchObject({ status: "degraded", dependencies: { database: { status: "error" }, redis: { status: "ok" } } });

      // Back up: the queued usage reaches the database, once per answered call.
      await eventually(rowsMatchAnswered, 30_000, "a usage row for every answered generation");
      const rows = await usageRows(scratch.url);
      expect(rows.length).toBe(new Set(rows.map((r) => r.request_id)).size);
      expect((await send(server.url, { path: "/v1/llm/usage", key, label: "pg-after" })).status).toBe(200);
    },
    90_000,
  );

  it.each<[FaultMode]>([["down"], ["hung"]])(
    "Redis %s: requests fall back at once, /health says degraded, and it recovers",
    async (mode) => {
      await redisProxy.set(mode);
      const [generations, report] = await Promise.all([
        generateFor(4_000, `redis-${mode}`),
        new Promise<Answer & { report: Health }>((r) => setTimeout(() => r(health()), 1_500)),
      ]);
      figures.push(
        `Redis ${mode}: ${generations.answers.length} generations, all ${[...new Set(generations.answers.map((a) => a.status))].join("/")}, slowest ${Math.round(generations.worstMs)} ms; /health ${report.report.status} in ${Math.round(report.ms)} ms`,
      );
      expect(late(generations, GENERATE_DEADLINE_MS)).toEqual([]);
      expect(new Set(generations.answers.map((a) => a.status))).toEqual(new Set([200]));
      expect(report.ms).toBeLessThan(HEALTH_DEADLINE_MS);
      // The service works without Redis (limits and caches fall back), so it stays in rotation.
      expect(report.status).toBe(200);
      expect(report.report).toMatchObject({ status: "degraded", dependencies: { redis: { status: "error" }, database: { status: "ok" } } });

      await redisProxy.set("up");
      await eventually(async () => (await health()).report.status === "ok", 20_000, "/health ok again");
      await eventually(rowsMatchAnswered, 20_000, "a usage row for every answered generation");
    },
    60_000,
  );
});
