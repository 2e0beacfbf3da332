// SIGTERM under the two conditions that used to lose usage, black-box against real server
// processes: long streams still running when the grace period ends (each must leave its usage row,
// `client_closed` with the tokens streamed so far), and a database that hangs (the process must
// still exit in bounded time, with what it could not write spooled to DATA_DIR and written by the
// next start, before any request and exactly once). On PGlite and, with TEST_DATABASE_URL, on
// PostgreSQL (behind a fault proxy for the hang).
import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageWriter } from "@/server/features/usage/usage-writer.ts";
import { countTokens, startProviderEmulator, type ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { createScratchPostgres, testDatabaseUrl } from "@/tests/support/db.ts";
import { startFaultProxy, targetOf } from "@/tests/support/fault-proxy.ts";
import { makeDataDir, startServer, withDatabase } from "@/tests/support/host.ts";
import { GENERATE_DEADLINE_MS, generate, insertKey, late, load, providerEnv, requestId, usageRows, type UsageRow } from "./harness.ts";
import { testUsageEvent } from "../support/usage-events.ts";

/** What the servers here are given to finish in-flight requests after SIGTERM. */
const GRACE_MS = 1_500;
/** The whole shutdown after SIGTERM: the grace, the usage writer's bounded final flush (5 s), the other hooks, closing. */
const EXIT_DEADLINE_MS = GRACE_MS + 9_000;
const STREAM_WORDS = 400;

let emulator: ProviderEmulator;
const figures: string[] = [];
beforeAll(async () => {
  emulator = await startProviderEmulator({ maxLogEntries: 0 });
});
afterAll(async () => {
  if (figures.length) console.log(`reliability figures:\n  ${figures.join("\n  ")}`);
  await emulator?.close();
});

/** A streamed generation read as it comes: how many text events arrived before the end (or the cut). */
function longStream(url: string, key: string) {
  const id = requestId("long-stream");
  let events = 0;
  let firstEvents: () => void = () => {};
  const started = new Promise<void>((resolve) => (firstEvents = resolve));
  const done = (async () => {
    try {
      const res = await fetch(`${url}/v1/llm/generate`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-request-id": id },
        body: JSON.stringify({
          model: "gpt-4o-mini",
          stream: true,
          messages: [{ role: "user", content: `a long one [[emulator words=${STREAM_WORDS} chunk_delay=25]]` }],
        }),
      });
      const reader = res.body!.getReader();
      for (;;) {
        const { done: end, value } = await reader.read();
        if (end) break;
        events += (
          Buffer.from(value)
            .toString("utf8")
            .match(/"type":"delta"/g) ?? []
        ).length;
        if (events >= 3) firstEvents();
      }
      return { id, status: res.status, events, cut: false };
    } catch {
      return { id, status: 200, events, cut: true };
    }
  })();
  return { id, started, done };
}

type Rows = (dataDirOrUrl: string) => Promise<UsageRow[]>;

const cases: { kind: "pglite" | "postgres"; rows: Rows }[] = [
  { kind: "pglite", rows: pgliteRows },
  ...(testDatabaseUrl() ? [{ kind: "postgres" as const, rows: usageRows }] : []),
];

/** The usage rows of the embedded database in `dataDir` (through its owner's socket while a server runs). */
function pgliteRows(dataDir: string): Promise<UsageRow[]> {
  return withDatabase(
    { dataDir },
    (db) => db.rawQuery<UsageRow>("SELECT request_id, status, error_code, output_tokens, stream FROM usage_events ORDER BY request_id"),
    false,
  );
}

describe.each(cases)("SIGTERM with streams longer than the grace period, on $kind", ({ kind, rows }) => {
  it("records every cut stream as client_closed with the tokens so far, and exits in bounded time", async () => {
    const server = await startServer({ env: { ...providerEnv(emulator), SHUTDOWN_GRACE_MS: String(GRACE_MS) }, database: kind });
    try {
      const key = await insertKey(server, `streams${kind}`);
      const streams = Array.from({ length: 12 }, () => longStream(server.url, key));
      const quick = await load(12, 4, () => generate(server.url, key, "before-sigterm"));
      expect(quick.answers.every((a) => a.status === 200)).toBe(true);
      await Promise.all(streams.map((s) => s.started));

      const signalled = performance.now();
      server.child.kill("SIGTERM");
      const code = await server.exited;
      const exitMs = performance.now() - signalled;
      const outcomes = await Promise.all(streams.map((s) => s.done));
      const stored = await rows(server.databaseUrl ?? server.dataDir);
      const byId = new Map(stored.map((r) => [r.request_id, r]));
      const cutRows = outcomes.map((o) => byId.get(o.id));
      figures.push(
        `${kind}, SIGTERM with ${streams.length} streams of ${STREAM_WORDS} words at 25 ms: exit ${code} after ${Math.round(exitMs)} ms (grace ${GRACE_MS} ms); ` +
          `${cutRows.filter(Boolean).length} of ${streams.length} cut streams recorded, output tokens ${cutRows.map((r) => r?.output_tokens ?? "-").join(",")}`,
      );

      expect(code).toBe(0);
      expect(exitMs).toBeLessThan(EXIT_DEADLINE_MS);
      expect(outcomes.every((o) => o.cut && o.events > 0 && o.events < STREAM_WORDS)).toBe(true);
      for (const [i, row] of cutRows.entries()) {
        expect(row, outcomes[i]!.id).toMatchObject({ status: "error", error_code: "client_closed", stream: true });
        // The tokens streamed until the cut: at least what this client received, never the whole answer.
        expect(row!.output_tokens).toBeGreaterThanOrEqual(outcomes[i]!.events);
        expect(row!.output_tokens).toBeLessThan(countTokens(Array(STREAM_WORDS).fill("w").join(" ")));
      }
      for (const a of quick.answers) expect(byId.get(a.id), a.id).toMatchObject({ status: "success" });
      expect(stored).toHaveLength(streams.length + quick.answers.length);
    } finally {
      await server.dispose();
    }
  }, 120_000);
});

describe.runIf(testDatabaseUrl())("SIGTERM while PostgreSQL hangs", () => {
  it("exits in bounded time with the queued usage spooled, and the next start writes it exactly once, before any request", async () => {
    const scratch = await createScratchPostgres();
    const proxy = await startFaultProxy(targetOf(scratch.url, 5432));
    const dataDir = makeDataDir("reliability-spool");
    const spool = path.join(dataDir, "usage-spool.jsonl");
    const env = { ...providerEnv(emulator), SHUTDOWN_GRACE_MS: String(GRACE_MS) };
    try {
      const first = await startServer({ env, database: { url: proxy.urlFor(scratch.url) }, dataDir });
      let answered: string[];
      try {
        const key = await insertKey({ databaseUrl: scratch.url }, "spool");
        expect((await generate(first.url, key, "warm")).status).toBe(200);
        await new Promise((r) => setTimeout(r, 1_500)); // the warm-up's event is flushed

        await proxy.set("hung");
        const hung = await load(100, 10, () => generate(first.url, key, "while-hung"));
        expect(late(hung, GENERATE_DEADLINE_MS)).toEqual([]);
        answered = hung.answers.filter((a) => a.status === 200).map((a) => a.id);
        expect(answered).toHaveLength(100);

        const signalled = performance.now();
        first.child.kill("SIGTERM");
        const code = await first.exited;
        const exitMs = performance.now() - signalled;
        const spooled = existsSync(spool) ? readFileSync(spool, "utf8").trim().split("\n").length : 0;
        figures.push(
          `PostgreSQL hung, SIGTERM with 100 answered calls queued: exit ${code} after ${Math.round(exitMs)} ms; ${spooled} events spooled`,
        );
        expect(code).toBe(0);
        expect(exitMs).toBeLessThan(EXIT_DEADLINE_MS);
        const spooledIds = new Set(
          readFileSync(spool, "utf8")
            .trim()
            .split("\n")
            .map((l) => (JSON.parse(l) as { requestId: string }).requestId),
        );
        expect(answered.filter((id) => !spooledIds.has(id))).toEqual([]);
      } finally {
        await first.dispose();
      }

      // Up again: the next start replays the spool by itself (no request is sent to it).
      await proxy.set("up");
      const second = await startServer({ env, database: { url: scratch.url }, dataDir });
      try {
        await eventuallyRows(scratch.url, answered);
        expect(existsSync(spool) || existsSync(`${spool}.replaying`)).toBe(false);
      } finally {
        await second.dispose();
      }
      // Another start finds nothing to replay; nothing is counted twice, in the events or the roll-ups.
      const third = await startServer({ env, database: { url: scratch.url }, dataDir });
      await third.dispose();
      const after = await usageRows(scratch.url);
      expect(after).toHaveLength(answered.length + 1);
      expect(await rollupRequests(scratch.url)).toBe(answered.length + 1);
    } finally {
      await proxy.close();
      await scratch.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe("a spool left in an embedded database's DATA_DIR", () => {
  it("is written by the next start by itself, before any request", async () => {
    const dataDir = makeDataDir("reliability-spool-pglite");
    try {
      // What a run whose database refused its final flush leaves behind, written by the writer itself.
      const refused = async (): Promise<never> => {
        throw new Error("the database is not answering");
      };
      const writer = new UsageWriter({
        rawQuery: async () => refused,
        log: pino({ level: "silent" }),
        spoolFile: path.join(dataDir, "usage-spool.jsonl"),
      });
      const ids = Array.from({ length: 25 }, (_, i) => `spooled-${i}`);
      for (const id of ids) {
        writer.record(testUsageEvent({ requestId: id, usage: { inputTokens: 12, outputTokens: 34 } }));
      }
      await writer.stop();
      expect(existsSync(path.join(dataDir, "usage-spool.jsonl"))).toBe(true);

      const server = await startServer({ env: providerEnv(emulator), dataDir });
      let rows: UsageRow[] = [];
      try {
        const until = Date.now() + 20_000;
        while (Date.now() < until && rows.length < ids.length) {
          await new Promise((r) => setTimeout(r, 300));
          rows = await pgliteRows(dataDir);
        }
      } finally {
        await server.dispose();
      }
      figures.push(`PGlite start with a spool of ${ids.length} events: ${rows.length} written without a request`);
      expect(rows.map((r) => r.request_id).sort()).toEqual([...ids].sort());
      expect(existsSync(path.join(dataDir, "usage-spool.jsonl")) || existsSync(path.join(dataDir, "usage-spool.jsonl.replaying"))).toBe(
        false,
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});

async function eventuallyRows(databaseUrl: string, ids: string[]): Promise<void> {
  const until = Date.now() + 20_000;
  for (;;) {
    const have = new Set((await usageRows(databaseUrl)).map((r) => r.request_id));
    if (ids.every((id) => have.has(id))) return;
    if (Date.now() > until)
      throw new Error(`${ids.filter((id) => !have.has(id)).length} of ${ids.length} spooled events never reached the database`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function rollupRequests(databaseUrl: string): Promise<number> {
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>("SELECT coalesce(sum(requests), 0)::text AS n FROM usage_daily")).rows[0]!.n);
  } finally {
    await client.end();
  }
}
