// What the budget suites share: API keys with budgets made in the service's database (as the CLI
// would), spend recorded the way a served call records it (the batched writer, roll-ups included),
// and the spend the database holds for a key afterwards.
import { randomBytes } from "node:crypto";
import pino from "pino";
import type { DatabaseHandle } from "@/server/db/index.ts";
import { hashApiKey } from "@/server/access/auth.ts";
import { formatUsd, parseUsd, type Pico } from "@/server/features/catalogue/pricing.ts";
import { UsageWriter } from "@/server/features/usage/usage-writer.ts";

/** Every limit off: these suites count money, not requests. */
export const NO_RATE_LIMITS = {
  RATE_LIMITS: JSON.stringify(
    Object.fromEntries(
      ["generate", "generate-embeddings", "vector-search", "tier:basic", "tier:standard", "tier:premium"].map((n) => [n, "off"]),
    ),
  ),
  RATE_LIMIT_REQUESTS: "1000000",
};

export async function createKey(
  db: DatabaseHandle,
  name: string,
  options: { budgetUsd?: string; admin?: boolean } = {},
): Promise<{ key: string; id: string }> {
  const key = `ms_${name.replace(/\W/g, "")}_${randomBytes(16).toString("hex")}`;
  const row = await db.prisma.apiKey.create({
    data: {
      name,
      prefix: key.slice(0, 10),
      keyHash: hashApiKey(key),
      isAdmin: options.admin ?? false,
      monthlyBudgetUsd: options.budgetUsd ?? null,
    },
  });
  return { key, id: row.id };
}

/** Records `usd` of this month's spend on the key, as an earlier call would have (event and roll-ups). */
export async function recordSpend(db: DatabaseHandle, apiKeyId: string, usd: string, modelId = "gpt-4"): Promise<void> {
  const writer = new UsageWriter({ rawQuery: async () => (sql, params) => db.rawQuery(sql, params), log: pino({ level: "silent" }) });
  const cost = parseUsd(usd);
  writer.record({
    createdAt: new Date(),
    endpoint: "/v1/llm/generate",
    kind: "llm",
    modelId,
    provider: "openai",
    apiKeyId,
    status: "success",
    stream: false,
    inputTokens: 1,
    outputTokens: 1,
    cachedInputTokens: 0,
    reasoningTokens: 0,
    inputCost: cost,
    outputCost: 0n,
    totalCost: cost,
    latencyMs: 1,
  });
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
