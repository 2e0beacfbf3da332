import { appendFileSync, existsSync, readFileSync } from "node:fs";
import path from "node:path";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, removeTempDir, testDatabases, useTestDatabase } from "@/tests/support/db.ts";
import { LATENCY_BUCKET_BOUNDS, latencyBucket } from "./latency-histogram.ts";
import { costOf } from "../catalogue/pricing.ts";
import { timeOrderedId, UsageWriter, type UsageEventInput } from "./usage-writer.ts";
import { testUsageEvent } from "../../../tests/support/usage-events.ts";

const log = pino({ level: "silent" });
const tmp = makeTempDir("usage-writer-");
afterAll(() => removeTempDir(tmp));

function event(i: number, overrides: Partial<UsageEventInput> = {}): UsageEventInput {
  return {
    ...testUsageEvent({
      at: new Date(Date.UTC(2026, 10, 25, 23, 59, 59, 500)),
      modelId: "gpt-4",
      apiKeyId: "key-1",
      userId: i % 2 ? "user-a" : null,
      latencyMs: 10 + i,
      usage: { inputTokens: 100 + i, outputTokens: 50 },
      price: { inputPerMTok: "30", outputPerMTok: "60" },
    }),
    ...overrides,
  };
}

describe("event ids", () => {
  it("are UUIDv7-shaped and sort by the event's time", () => {
    const times = [Date.UTC(2020, 0, 1), Date.UTC(2026, 10, 26, 12), Date.UTC(2026, 10, 26, 12, 0, 0, 1), Date.UTC(2040, 5, 1)];
    const ids = times.map((t) => timeOrderedId(new Date(t)));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([...ids].reverse().sort()).toEqual(ids);
    expect(timeOrderedId(new Date(times[1]!))).not.toBe(timeOrderedId(new Date(times[1]!)));
  });
});

describe.each(testDatabases())("usage writer on $kind", ({ kind }) => {
  const db = useTestDatabase(kind);
  const q = (sql: string, params?: unknown[]) => db.rawQuery(sql, params);

  it("writes a batch of events and the daily roll-up in one go, with exact sums", async () => {
    const writer = new UsageWriter({ rawQuery: async () => q, log });
    for (let i = 0; i < 10; i++) writer.record(event(i));
    writer.record(
      event(0, {
        createdAt: new Date(Date.UTC(2026, 10, 26, 0, 0, 0, 1)),
        status: "error",
        outputTokens: 0,
        ...costOf({ inputPerMTok: "30", outputPerMTok: "60" }, { inputTokens: 100, outputTokens: 0, cachedInputTokens: 0 }),
      }),
    );
    expect(writer.pending()).toHaveLength(11);
    await writer.flush();
    expect(writer.pending()).toHaveLength(0);

    const [count] = await q("select count(*)::int as n, sum(total_cost)::text as cost from usage_events");
    expect(count).toEqual({ n: 11, cost: expect.any(String) });
    // 10 successes: Σ(100+i)·30e-6 + 10·50·60e-6 = 1045·3e-5 + 0.03 = 0.03135 + 0.03 = 0.06135; the error: 100·3e-5 = 0.003
    expect(Number((count as { cost: string }).cost)).toBeCloseTo(0.06435, 12);
    const rows = await q(
      "select day::text, user_id, status, requests, input_tokens::int, output_tokens::int, cost::text, latency_ms_sum::int from usage_daily order by day, user_id, status",
    );
    expect(rows).toEqual([
      {
        day: "2026-11-25",
        user_id: "",
        status: "success",
        requests: 5,
        input_tokens: 100 + 102 + 104 + 106 + 108,
        output_tokens: 250,
        cost: "0.030600000000",
        latency_ms_sum: 10 + 12 + 14 + 16 + 18,
      },
      {
        day: "2026-11-25",
        user_id: "user-a",
        status: "success",
        requests: 5,
        input_tokens: 101 + 103 + 105 + 107 + 109,
        output_tokens: 250,
        cost: "0.030750000000",
        latency_ms_sum: 11 + 13 + 15 + 17 + 19,
      },
      {
        day: "2026-11-26",
        user_id: "",
        status: "error",
        requests: 1,
        input_tokens: 100,
        output_tokens: 0,
        cost: "0.003000000000",
        latency_ms_sum: 10,
      },
    ]);
  });

  it("updates the hourly and per-dimension roll-ups in the same statement, with latency histograms", async () => {
    const writer = new UsageWriter({ rawQuery: async () => q, log });
    const at = (h: number, m: number) => new Date(Date.UTC(2026, 9, 5, h, m));
    const base = { modelId: "rollup-model", apiKeyId: "key-r", userId: "user-r" };
    writer.record(event(0, { ...base, createdAt: at(10, 5), latencyMs: 9 }));
    writer.record(event(0, { ...base, createdAt: at(10, 55), latencyMs: 9 }));
    writer.record(event(0, { ...base, createdAt: at(11, 0), latencyMs: 1000, status: "error" }));
    writer.record(
      event(0, {
        ...base,
        createdAt: at(11, 1),
        latencyMs: 0,
        endpoint: "/v1/llm/generate-embeddings",
        kind: "embedding",
        provider: "openai",
      }),
    );
    await writer.flush();

    const hourly = await q(
      "select to_char(hour at time zone 'UTC', 'HH24:MI') as h, endpoint, status, requests, cost::text, latency_ms_sum::int, latency_hist::text from usage_hourly where model_id = 'rollup-model' order by 1, 2, 3",
    );
    // latency 9 ms is bucket 8 ([8, 10)), 1000 ms bucket 35 ([862, 1024)), 0 ms bucket 0: 10^(12·bucket) each.
    expect(hourly).toEqual([
      {
        h: "10:00",
        endpoint: "/v1/llm/generate",
        status: "success",
        requests: 2,
        cost: "0.012000000000",
        latency_ms_sum: 18,
        latency_hist: `2${"0".repeat(96)}`,
      },
      {
        h: "11:00",
        endpoint: "/v1/llm/generate",
        status: "error",
        requests: 1,
        cost: "0.006000000000",
        latency_ms_sum: 1000,
        latency_hist: `1${"0".repeat(420)}`,
      },
      {
        h: "11:00",
        endpoint: "/v1/llm/generate-embeddings",
        status: "success",
        requests: 1,
        cost: "0.006000000000",
        latency_ms_sum: 0,
        latency_hist: "1",
      },
    ]);
    const dims = await q(
      "select kind, dim, value, requests, errors, cost::text from usage_daily_dims where day = '2026-10-05' order by kind, dim, value",
    );
    expect(dims).toEqual([
      { kind: "embedding", dim: "api_key", value: "key-r", requests: 1, errors: 0, cost: "0.006000000000" },
      { kind: "embedding", dim: "endpoint", value: "/v1/llm/generate-embeddings", requests: 1, errors: 0, cost: "0.006000000000" },
      { kind: "embedding", dim: "model", value: "rollup-model", requests: 1, errors: 0, cost: "0.006000000000" },
      { kind: "embedding", dim: "provider", value: "openai", requests: 1, errors: 0, cost: "0.006000000000" },
      { kind: "embedding", dim: "status", value: "success", requests: 1, errors: 0, cost: "0.006000000000" },
      { kind: "embedding", dim: "total", value: "", requests: 1, errors: 0, cost: "0.006000000000" },
      { kind: "embedding", dim: "user", value: "user-r", requests: 1, errors: 0, cost: "0.006000000000" },
      { kind: "llm", dim: "api_key", value: "key-r", requests: 3, errors: 1, cost: "0.018000000000" },
      { kind: "llm", dim: "endpoint", value: "/v1/llm/generate", requests: 3, errors: 1, cost: "0.018000000000" },
      { kind: "llm", dim: "model", value: "rollup-model", requests: 3, errors: 1, cost: "0.018000000000" },
      { kind: "llm", dim: "provider", value: "openai", requests: 3, errors: 1, cost: "0.018000000000" },
      { kind: "llm", dim: "status", value: "error", requests: 1, errors: 1, cost: "0.006000000000" },
      { kind: "llm", dim: "status", value: "success", requests: 2, errors: 0, cost: "0.012000000000" },
      { kind: "llm", dim: "total", value: "", requests: 3, errors: 1, cost: "0.018000000000" },
      { kind: "llm", dim: "user", value: "user-r", requests: 3, errors: 1, cost: "0.018000000000" },
    ]);
    // The hourly dimension rows add up to the daily ones, and a second batch adds to existing rows.
    writer.record(event(0, { ...base, createdAt: at(10, 30), latencyMs: 9 }));
    await writer.flush();
    const [sums] = await q(
      `select (select sum(requests)::int from usage_hourly_dims where dim = 'total' and hour >= '2026-10-05' and hour < '2026-10-06') as hourly,
              (select sum(requests)::int from usage_daily_dims where dim = 'total' and day = '2026-10-05') as daily,
              (select latency_hist::text from usage_daily where day = '2026-10-05' and model_id = 'rollup-model' and status = 'success' and endpoint = '/v1/llm/generate') as hist`,
    );
    expect(sums).toEqual({ hourly: 5, daily: 5, hist: `3${"0".repeat(96)}` });
  });

  it("buckets latencies in SQL exactly as latency-histogram.ts does", async () => {
    const rows = await q(
      `select v, width_bucket(v, '{${LATENCY_BUCKET_BOUNDS.join(",")}}'::int[]) as b from (select generate_series(0, 20000) as v union all select generate_series(20001, 3000000, 991)) s`,
    );
    expect(rows.length).toBeGreaterThan(20_000);
    expect(rows.filter((r) => (r as { b: number }).b !== latencyBucket((r as { v: number }).v))).toEqual([]);
  });

  it("never counts an event twice when it is written again (replay after a lost acknowledgement)", async () => {
    const writer = new UsageWriter({ rawQuery: async () => q, log });
    const e = event(1, { id: "replayed-event", modelId: "claude-3-haiku", createdAt: new Date(Date.UTC(2026, 0, 1)) });
    writer.record(e);
    writer.record(e);
    await writer.flush();
    writer.record(e);
    await writer.flush();
    const rows = await q("select requests from usage_daily where model_id = 'claude-3-haiku'");
    expect(rows).toEqual([{ requests: 1 }]);
  });

  it("keeps the events through a database hiccup and writes them on the next flush", async () => {
    let fail = true;
    const flaky = async (sql: string, params?: unknown[]) => {
      if (fail) throw new Error("connection terminated unexpectedly");
      return q(sql, params);
    };
    const writer = new UsageWriter({ rawQuery: async () => flaky, log, flushIntervalMs: 1 });
    for (let i = 0; i < 3; i++) writer.record(event(i, { modelId: "hiccup-model" }));
    await expect(writer.flush()).rejects.toThrow(/terminated/);
    expect(writer.pending()).toHaveLength(3);
    expect(writer.getStats().failedFlushes).toBe(1);
    fail = false;
    await new Promise((r) => setTimeout(r, 5)); // past the backoff
    await writer.flush();
    expect(writer.pending()).toHaveLength(0);
    expect(await q("select count(*)::int as n from usage_events where model_id = 'hiccup-model'")).toEqual([{ n: 3 }]);
  });

  it("writes at once on an explicit flush even while the periodic flush backs off after a failure", async () => {
    let fail = true;
    const flaky = async (sql: string, params?: unknown[]) => {
      if (fail) throw new Error("connection terminated unexpectedly");
      return q(sql, params);
    };
    // A long interval: the backoff after the failure lasts seconds.
    const writer = new UsageWriter({ rawQuery: async () => flaky, log, flushIntervalMs: 10_000 });
    writer.record(event(1, { modelId: "explicit-flush-model" }));
    await expect(writer.flush()).rejects.toThrow(/terminated/);
    fail = false;
    await writer.flush(); // no waiting for the backoff
    expect(writer.pending()).toHaveLength(0);
    expect(await q("select count(*)::int as n from usage_events where model_id = 'explicit-flush-model'")).toEqual([{ n: 1 }]);
  });

  it("spools to disk what it cannot write on shutdown, and replays it on the next start", async () => {
    const spoolFile = path.join(tmp, `${kind}-spool.jsonl`);
    const down = async () => {
      throw new Error("the database is down");
    };
    const first = new UsageWriter({ rawQuery: async () => down, log, spoolFile });
    first.record(event(7, { modelId: "spooled-model", totalCost: 123_456_789_012n }));
    first.record(event(8, { modelId: "spooled-model" }));
    await first.stop();
    expect(readFileSync(spoolFile, "utf8").trim().split("\n")).toHaveLength(2);

    const second = new UsageWriter({ rawQuery: async () => q, log, spoolFile, flushIntervalMs: 50 });
    second.start();
    await second.stop();
    expect(existsSync(spoolFile)).toBe(false);
    const rows = await q("select total_cost::text as c from usage_events where model_id = 'spooled-model' order by latency_ms");
    expect(rows).toEqual([{ c: "0.123456789012" }, { c: expect.any(String) }]);
  });

  it("stops within its deadline when the database never answers, spooling the batch stuck in the write with the rest", async () => {
    const spoolFile = path.join(tmp, `${kind}-hung-spool.jsonl`);
    const hung = () => new Promise<never>(() => {});
    const writer = new UsageWriter({ rawQuery: async () => hung, log, spoolFile, maxBatch: 2 });
    for (let i = 0; i < 5; i++) writer.record(event(i, { modelId: "hung-model" }));
    void writer.flush().catch(() => {}); // the first batch of 2 is now stuck in the write
    const started = performance.now();
    await writer.stop(300);
    expect(performance.now() - started).toBeLessThan(1_000);
    const spooled = readFileSync(spoolFile, "utf8").trim().split("\n");
    expect(spooled).toHaveLength(5);
    // Recorded after the stop (a stream cut at the end of the grace period): straight to the spool.
    writer.record(event(9, { modelId: "hung-model" }));
    expect(readFileSync(spoolFile, "utf8").trim().split("\n")).toHaveLength(6);

    const next = new UsageWriter({ rawQuery: async () => q, log, spoolFile });
    next.start();
    await next.stop();
    expect(await q("select count(*)::int as n from usage_events where model_id = 'hung-model'")).toEqual([{ n: 6 }]);
  });

  it("writes a spool exactly once when its replay is interrupted, and skips a line cut short by a crash", async () => {
    const spoolFile = path.join(tmp, `${kind}-interrupted-spool.jsonl`);
    const refused = async () => {
      throw new Error("the database is down");
    };
    const events = Array.from({ length: 4 }, (_, i) => event(i, { id: timeOrderedId(new Date()), modelId: "interrupted-model" }));
    const first = new UsageWriter({ rawQuery: async () => refused, log, spoolFile });
    for (const e of events) first.record(e);
    await first.stop();
    // A crash while a line was appended leaves half a line at the end; the next run spools after it.
    appendFileSync(spoolFile, '{"id":"half-written","createdAt":"2026-');
    const restarted = new UsageWriter({ rawQuery: async () => refused, log, spoolFile: `${spoolFile}` });
    restarted.record(event(5, { modelId: "interrupted-model" }));
    await restarted.stop();

    // The replay writes the first batch, then the database stops answering and the run ends:
    // the replay file stays (its events are not all written) and the rest are spooled again.
    let batches = 0;
    const flaky = async (sql: string, params?: unknown[]) => {
      if (++batches > 1) throw new Error("connection terminated unexpectedly");
      return q(sql, params);
    };
    const second = new UsageWriter({ rawQuery: async () => flaky, log, spoolFile, maxBatch: 2 });
    second.start();
    await new Promise((r) => setTimeout(r, 50));
    await second.stop();
    expect(existsSync(`${spoolFile}.replaying`)).toBe(true);
    expect(await q("select count(*)::int as n from usage_events where model_id = 'interrupted-model'")).toEqual([{ n: 2 }]);

    // The next start merges both files and writes each event once: the two already written are not counted again.
    const third = new UsageWriter({ rawQuery: async () => q, log, spoolFile });
    third.start();
    await third.stop();
    expect(existsSync(spoolFile) || existsSync(`${spoolFile}.replaying`)).toBe(false);
    expect(await q("select count(*)::int as n from usage_events where model_id = 'interrupted-model'")).toEqual([{ n: 5 }]);
    expect(await q("select sum(requests)::int as n from usage_daily where model_id = 'interrupted-model'")).toEqual([{ n: 5 }]);
  });
});
