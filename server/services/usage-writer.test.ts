import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, removeTempDir, testDatabases, useTestDatabase } from "@/tests/support/db.ts";
import { costOf } from "./pricing.ts";
import { UsageWriter, type UsageEventInput } from "./usage-writer.ts";

const log = pino({ level: "silent" });
const tmp = makeTempDir("usage-writer-");
afterAll(() => removeTempDir(tmp));

function event(i: number, overrides: Partial<UsageEventInput> = {}): UsageEventInput {
  const usage = { inputTokens: 100 + i, outputTokens: 50, cachedInputTokens: 0 };
  return {
    createdAt: new Date(Date.UTC(2026, 10, 25, 23, 59, 59, 500)),
    endpoint: "/v1/llm/generate",
    modelId: "gpt-4",
    provider: "openai",
    apiKeyId: "key-1",
    userId: i % 2 ? "user-a" : null,
    status: "success",
    stream: false,
    reasoningTokens: 0,
    latencyMs: 10 + i,
    ...usage,
    ...costOf({ inputPerMTok: "30", outputPerMTok: "60" }, usage),
    ...overrides,
  };
}

describe.each(testDatabases())("usage writer on $kind", ({ kind }) => {
  const db = useTestDatabase(kind);
  const q = (sql: string, params?: unknown[]) => db.rawQuery(sql, params);

  it("writes a batch of events and the daily roll-up in one go, with exact sums", async () => {
    const writer = new UsageWriter({ rawQuery: async () => q, log });
    for (let i = 0; i < 10; i++) writer.record(event(i));
    writer.record(event(0, { createdAt: new Date(Date.UTC(2026, 10, 26, 0, 0, 0, 1)), status: "error", outputTokens: 0, ...costOf({ inputPerMTok: "30", outputPerMTok: "60" }, { inputTokens: 100, outputTokens: 0, cachedInputTokens: 0 }) }));
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
      { day: "2026-11-25", user_id: "", status: "success", requests: 5, input_tokens: 100 + 102 + 104 + 106 + 108, output_tokens: 250, cost: "0.030600000000", latency_ms_sum: 10 + 12 + 14 + 16 + 18 },
      { day: "2026-11-25", user_id: "user-a", status: "success", requests: 5, input_tokens: 101 + 103 + 105 + 107 + 109, output_tokens: 250, cost: "0.030750000000", latency_ms_sum: 11 + 13 + 15 + 17 + 19 },
      { day: "2026-11-26", user_id: "", status: "error", requests: 1, input_tokens: 100, output_tokens: 0, cost: "0.003000000000", latency_ms_sum: 10 },
    ]);
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
});
