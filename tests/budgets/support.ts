// What the budget suites share (their servers and keys come from tests/support/host.ts): spend
// recorded the way a served call records it (the batched writer, roll-ups included), and the spend
// the database holds for a key afterwards.
import pino from "pino";
import type { DatabaseHandle } from "@/server/db/index.ts";
import { formatUsd, parseUsd, type Pico } from "@/server/features/catalogue/pricing.ts";
import { UsageWriter } from "@/server/features/usage/usage-writer.ts";
import { testUsageEvent } from "../support/usage-events.ts";

/** Records `usd` of this month's spend on the key, as an earlier call would have (event and roll-ups). */
export async function recordSpend(db: DatabaseHandle, apiKeyId: string, usd: string, modelId = "gpt-4"): Promise<void> {
  const writer = new UsageWriter({ rawQuery: async () => (sql, params) => db.rawQuery(sql, params), log: pino({ level: "silent" }) });
  writer.record(testUsageEvent({ apiKeyId, modelId, costUsd: usd, usage: { inputTokens: 1, outputTokens: 1 }, latencyMs: 1 }));
  await writer.flush();
}

/** What the database has recorded for the key: its events' total cost and count. */
export async function recordedSpend(db: DatabaseHandle, apiKeyId: string): Promise<{ cost: Pico; events: number }> {
  const [row] = await db.rawQuery<{ cost: string | null; n: number }>(
    "SELECT sum(total_cost)::text AS cost, count(*)::int AS n FROM usage_events WHERE api_key_id = $1",
    [apiKeyId],
  );
  return { cost: parseUsd(row?.cost ?? "0"), events: row?.n ?? 0 };
}

export const usd = (pico: Pico) => formatUsd(pico);

/** POSTs JSON; a streamed answer is read to its end and counts as answered when its `done` frame came. */
export async function post(
  base: string,
  path: string,
  key: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  if (text.startsWith("{")) json = JSON.parse(text) as Record<string, unknown>;
  return { status: res.status, json, text };
}

/** A streamed call answered completely: status 200 and its final `done` frame. */
export const streamedToTheEnd = (r: { status: number; text: string }) => r.status === 200 && r.text.includes('"type":"done"');
