// The published cost table (README "Cost for every kind of token"): one row per case, its cost
// computed by hand from the catalogue's listed prices (USD per 1M tokens, prisma/catalogue/models.json)
// and checked, exact to the picodollar, against the usage event the call recorded: its total, each
// part of the breakdown and the price tier. Through our host (PGlite, and PostgreSQL when
// TEST_DATABASE_URL is set), the adapters on the vendors' SDKs and the wire emulators, which report
// the usage as the vendors do (`[[emulator ...]]` directives ask for cache reads and writes,
// reasoning, audio, a cut stream).
//
// The emulators count a word as a token; "You said: <words>" is the reply (`words=N`: N words).
import { describe, expect, it } from "vitest";
import { cloudEmulatorEnv } from "@/tests/support/host.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { useCompatServer } from "@/tests/openai-compat/harness.ts";

type Parts = Partial<
  Record<"input" | "cachedInput" | "cacheWrite5m" | "cacheWrite1h" | "audioInput" | "imageInput" | "output" | "reasoning", string>
>;

export type CostRow = {
  case: string;
  provider: string;
  model: string;
  /** generate: POST /v1/llm/generate; chat: POST /v1/chat/completions; embeddings: POST /v1/embeddings. */
  via: "generate" | "chat" | "embeddings";
  stream?: boolean;
  content: string;
  body?: Record<string, unknown>;
  /** The arithmetic, by hand: tokens × USD per 1M. */
  sum: string;
  /** USD, exact. */
  total: string;
  parts: Parts;
  tier?: string;
  status?: "success" | "error";
};

const words = (n: number) => Array.from({ length: n }, () => "w").join(" ");
const BIG = words(200_001);

/** The table. Each `parts` entry is its line of `sum`. */
export const COST_ROWS: CostRow[] = [
  {
    case: "plain",
    provider: "openai",
    model: "gpt-4o",
    via: "generate",
    content: "one two three",
    sum: "3 in × $2.5 + 5 out × $10",
    total: "0.0000575",
    parts: { input: "0.0000075", output: "0.00005" },
  },
  {
    case: "plain",
    provider: "anthropic",
    model: "claude-sonnet-4-5-20250929",
    via: "generate",
    content: "one two three",
    sum: "3 in × $3 + 5 out × $15",
    total: "0.000084",
    parts: { input: "0.000009", output: "0.000075" },
  },
  {
    case: "streamed",
    provider: "openai",
    model: "gpt-4o",
    via: "chat",
    stream: true,
    content: "one two three",
    sum: "3 in × $2.5 + 5 out × $10",
    total: "0.0000575",
    parts: { input: "0.0000075", output: "0.00005" },
  },
  {
    case: "streamed",
    provider: "anthropic",
    model: "claude-sonnet-4-5-20250929",
    via: "generate",
    stream: true,
    content: "one two three",
    sum: "3 in × $3 + 5 out × $15",
    total: "0.000084",
    parts: { input: "0.000009", output: "0.000075" },
  },
  // A stream that ends without its usage is counted by us (cl100k_base): the prompt with its message
  // overhead (21 tokens for this message, directive included) and the text that reached the caller.
  {
    case: "cut stream (our count: 21 prompt tokens; 'You said: one' sent, 4 tokens)",
    provider: "openai",
    model: "gpt-4o",
    via: "generate",
    stream: true,
    content: "one two three [[emulator fault=end_early after=3]]",
    status: "error",
    sum: "21 in × $2.5 + 4 out × $10",
    total: "0.0000925",
    parts: { input: "0.0000525", output: "0.00004" },
  },
  {
    case: "failed after first byte (our count: 21 prompt tokens; 'You said:' sent, 3 tokens)",
    provider: "anthropic",
    model: "claude-sonnet-4-5-20250929",
    via: "generate",
    stream: true,
    content: "one two three [[emulator fault=stream_error after=2]]",
    status: "error",
    sum: "21 in × $3 + 3 out × $15",
    total: "0.000108",
    parts: { input: "0.000063", output: "0.000045" },
  },
  {
    case: "cache read",
    provider: "openai",
    model: "gpt-4o",
    via: "generate",
    content: "a b c d e f g h [[emulator cached=4]]",
    sum: "4 in × $2.5 + 4 cached × $1.25 + 10 out × $10",
    total: "0.000115",
    parts: { input: "0.00001", cachedInput: "0.000005", output: "0.0001" },
  },
  {
    case: "cache read",
    provider: "anthropic",
    model: "claude-sonnet-4-5-20250929",
    via: "generate",
    content: "a b c d e f g h [[emulator cached=4]]",
    sum: "4 in × $3 + 4 cached × $0.30 + 10 out × $15",
    total: "0.0001632",
    parts: { input: "0.000012", cachedInput: "0.0000012", output: "0.00015" },
  },
  {
    case: "5-minute cache write",
    provider: "anthropic",
    model: "claude-sonnet-4-5-20250929",
    via: "generate",
    content: "a b c d e f g h [[emulator cache_write=4]]",
    sum: "4 in × $3 + 4 written (5 min) × $3.75 + 10 out × $15",
    total: "0.000177",
    parts: { input: "0.000012", cacheWrite5m: "0.000015", output: "0.00015" },
  },
  {
    case: "1-hour cache write",
    provider: "anthropic",
    model: "claude-sonnet-4-5-20250929",
    via: "generate",
    content: "a b c d e f g h [[emulator cache_write_1h=4]]",
    sum: "4 in × $3 + 4 written (1 h) × $6 + 10 out × $15",
    total: "0.000186",
    parts: { input: "0.000012", cacheWrite1h: "0.000024", output: "0.00015" },
  },
  {
    case: "reasoning",
    provider: "openai",
    model: "o4-mini",
    via: "generate",
    content: "one two three [[emulator reasoning=7]]",
    sum: "3 in × $1.1 + 5 out × $4.4 + 7 reasoning × $4.4",
    total: "0.0000561",
    parts: { input: "0.0000033", output: "0.000022", reasoning: "0.0000308" },
  },
  {
    case: "reasoning (thinking)",
    provider: "anthropic",
    model: "claude-sonnet-4-5-20250929",
    via: "generate",
    content: "one two three [[emulator reasoning=3]]",
    sum: "3 in × $3 + 5 out × $15 + 3 thinking × $15",
    total: "0.000129",
    parts: { input: "0.000009", output: "0.000075", reasoning: "0.000045" },
  },
  {
    case: "above-200K tier",
    provider: "anthropic",
    model: "claude-sonnet-4-5-20250929",
    via: "generate",
    content: `${BIG} [[emulator words=2]]`,
    sum: "200,001 in × $6 + 2 out × $22.5 (the >200K rates, for the whole call)",
    total: "1.200051",
    parts: { input: "1.200006", output: "0.000045" },
    tier: ">200K",
  },
  {
    case: "above-200K tier",
    provider: "gemini",
    model: "gemini-2.5-pro",
    via: "generate",
    content: `${BIG} [[emulator words=2]]`,
    sum: "200,001 in × $2.5 + 2 out × $15 (the >200K rates)",
    total: "0.5000325",
    parts: { input: "0.5000025", output: "0.00003" },
    tier: ">200K",
  },
  {
    case: "priority tier",
    provider: "openai",
    model: "gpt-5",
    via: "chat",
    content: "one two three",
    body: { service_tier: "priority" },
    sum: "3 in × $2.5 + 5 out × $20 (priority rates)",
    total: "0.0001075",
    parts: { input: "0.0000075", output: "0.0001" },
    tier: "priority",
  },
  {
    case: "flex tier",
    provider: "openai",
    model: "gpt-5",
    via: "chat",
    content: "one two three",
    body: { service_tier: "flex" },
    sum: "3 in × $0.625 + 5 out × $5 (flex rates)",
    total: "0.000026875",
    parts: { input: "0.000001875", output: "0.000025" },
    tier: "flex",
  },
  {
    case: "embeddings",
    provider: "openai",
    model: "text-embedding-3-small",
    via: "embeddings",
    content: "one two three",
    sum: "3 in × $0.02",
    total: "0.00000006",
    parts: { input: "0.00000006" },
  },
  {
    case: "embeddings",
    provider: "gemini",
    model: "gemini-embedding-001",
    via: "embeddings",
    content: "one two three",
    sum: "3 in × $0.15",
    total: "0.00000045",
    parts: { input: "0.00000045" },
  },
  {
    case: "cache read and 5-minute write",
    provider: "bedrock",
    model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
    via: "generate",
    content: "a b c d e f g h [[emulator cached=4 cache_write=2]]",
    sum: "2 in × $3 + 4 cached × $0.30 + 2 written × $3.75 + 10 out × $15",
    total: "0.0001647",
    parts: { input: "0.000006", cachedInput: "0.0000012", cacheWrite5m: "0.0000075", output: "0.00015" },
  },
  {
    case: "1-hour cache write",
    provider: "bedrock",
    model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
    via: "generate",
    content: "a b c d e f g h [[emulator cache_write_1h=2]]",
    sum: "6 in × $3 + 2 written (1 h) × $6 + 10 out × $15",
    total: "0.00018",
    parts: { input: "0.000018", cacheWrite1h: "0.000012", output: "0.00015" },
  },
  {
    case: "cache read",
    provider: "gemini",
    model: "gemini-2.5-flash",
    via: "generate",
    content: "a b c d e f g h [[emulator cached=4]]",
    sum: "4 in × $0.30 + 4 cached × $0.03 + 10 out × $2.5",
    total: "0.00002632",
    parts: { input: "0.0000012", cachedInput: "0.00000012", output: "0.000025" },
  },
  {
    case: "audio input",
    provider: "gemini",
    model: "gemini-2.5-flash",
    via: "generate",
    content: "a b c d e f g h [[emulator audio=4]]",
    sum: "4 in × $0.30 + 4 audio × $1 + 10 out × $2.5",
    total: "0.0000302",
    parts: { input: "0.0000012", audioInput: "0.000004", output: "0.000025" },
  },
  {
    case: "reasoning (thoughts)",
    provider: "gemini",
    model: "gemini-2.5-flash",
    via: "generate",
    content: "one two three [[emulator reasoning=6]]",
    sum: "3 in × $0.30 + 5 out × $2.5 + 6 thoughts × $2.5",
    total: "0.0000284",
    parts: { input: "0.0000009", output: "0.0000125", reasoning: "0.000015" },
  },
];

type EventRow = {
  status: string;
  total_cost: string;
  input_cost: string;
  output_cost: string;
  cached_input_cost: string;
  cache_write_5m_cost: string;
  cache_write_1h_cost: string;
  audio_input_cost: string;
  image_input_cost: string;
  reasoning_cost: string;
  price_tier: string | null;
  provider: string;
};

const trim = (n: string) => (n.includes(".") ? n.replace(/\.?0+$/, "") : n);

describe.each(testDatabases())("the cost table on $kind", ({ kind }) => {
  const server = useCompatServer(kind, cloudEmulatorEnv);

  async function call(row: CostRow, requestId: string): Promise<void> {
    const headers = { authorization: `Bearer ${server.key}`, "content-type": "application/json", "x-request-id": requestId };
    const messages = [{ role: "user", content: row.content }];
    const [path, body] =
      row.via === "embeddings"
        ? ["/v1/embeddings", { model: row.model, input: row.content }]
        : row.via === "chat"
          ? ["/v1/chat/completions", { model: row.model, messages, stream: row.stream ?? false, ...row.body }]
          : ["/v1/llm/generate", { model: row.model, messages, stream: row.stream ?? false, ...row.body }];
    const res = await fetch(`${server.url}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
    await res.text();
    if (row.status !== "error") expect(res.status).toBe(200);
  }

  async function event(requestId: string): Promise<EventRow> {
    await server.events(requestId); // flushes the writer
    const { getDatabase } = await import("@/server/db/index.ts");
    const rows = await (
      await getDatabase()
    ).rawQuery<EventRow>(
      `select status, provider, total_cost::text, input_cost::text, output_cost::text, cached_input_cost::text, cache_write_5m_cost::text,
              cache_write_1h_cost::text, audio_input_cost::text, image_input_cost::text, reasoning_cost::text, price_tier
         from usage_events where request_id = $1`,
      [requestId],
    );
    expect(rows).toHaveLength(1);
    return rows[0]!;
  }

  it.each(COST_ROWS.map((r, i) => [`${i + 1}. ${r.case} on ${r.provider} (${r.model}): ${r.sum} = $${r.total}`, r, i] as const))(
    "%s",
    async (_name, row, i) => {
      const requestId = `cost-${kind}-${i}`;
      await call(row, requestId);
      const e = await event(requestId);
      expect(e.provider).toBe(row.provider);
      expect(e.status).toBe(row.status ?? "success");
      expect(trim(e.total_cost)).toBe(row.total);
      const p = (k: keyof Parts) => row.parts[k] ?? "0";
      const inputParts = ["cachedInput", "cacheWrite5m", "cacheWrite1h", "audioInput", "imageInput"] as const;
      expect({
        cachedInput: trim(e.cached_input_cost),
        cacheWrite5m: trim(e.cache_write_5m_cost),
        cacheWrite1h: trim(e.cache_write_1h_cost),
        audioInput: trim(e.audio_input_cost),
        imageInput: trim(e.image_input_cost),
        reasoning: trim(e.reasoning_cost),
      }).toEqual({ ...Object.fromEntries(inputParts.map((k) => [k, p(k)])), reasoning: p("reasoning") });
      // Plain input and output are the input and output cost less their other parts.
      const usd = (s: string) => {
        const [w, f = ""] = s.split(".");
        return BigInt(w!) * 10n ** 12n + BigInt(f.padEnd(12, "0"));
      };
      expect(usd(e.input_cost) - inputParts.reduce((n, k) => n + usd(p(k)), 0n)).toBe(usd(p("input")));
      expect(usd(e.output_cost) - usd(p("reasoning"))).toBe(usd(p("output")));
      expect(Object.values(row.parts).reduce((n, v) => n + usd(v), 0n)).toBe(usd(row.total));
      expect(e.price_tier).toBe(row.tier ?? null);
    },
  );

  it("GET /v1/llm/requests/{id} answers one call's cost by kind of token, its tier and its token kinds", async () => {
    const auth = { headers: { authorization: `Bearer ${server.key}` } };
    const list = (await (await fetch(`${server.url}/v1/llm/requests?limit=200`, auth)).json()) as {
      items: { id: string; request_id: string }[];
    };
    const detail = async (i: number) => {
      const item = list.items.find((r) => r.request_id === `cost-${kind}-${i}`)!;
      return (await (await fetch(`${server.url}/v1/llm/requests/${item.id}`, auth)).json()) as Record<string, unknown>;
    };
    const oneHour = COST_ROWS.findIndex((r) => r.case === "1-hour cache write" && r.provider === "anthropic");
    expect(await detail(oneHour)).toMatchObject({
      cache_write_tokens: 4,
      cache_write_1h_tokens: 4,
      price_tier: null,
      cost_breakdown: { input: 0.000012, cached_input: 0, cache_write_5m: 0, cache_write_1h: 0.000024, output: 0.00015, reasoning: 0 },
    });
    const priority = COST_ROWS.findIndex((r) => r.case === "priority tier");
    expect(await detail(priority)).toMatchObject({ service_tier: "priority", price_tier: "priority", cost_breakdown: { output: 0.0001 } });
  });

  it("GET /v1/llm/usage sums the parts of every row into cost_breakdown, which adds up to total_cost", async () => {
    const res = await fetch(`${server.url}/v1/llm/usage`, { headers: { authorization: `Bearer ${server.key}` } });
    const usage = (await res.json()) as { total_cost: number; cost_breakdown: Record<string, number> };
    const llm = COST_ROWS.filter((r) => r.via !== "embeddings");
    const expected = (k: keyof Parts) => llm.reduce((n, r) => n + Number(r.parts[k] ?? 0) * 1e12, 0);
    for (const k of ["cachedInput", "cacheWrite5m", "cacheWrite1h", "audioInput", "reasoning"] as const) {
      const snake = k
        .replace(/([A-Z])/g, "_$1")
        .replace(/(\d+[hm])$/, "_$1")
        .replace(/__/g, "_")
        .toLowerCase();
      expect(Math.round(usage.cost_breakdown[snake]! * 1e12)).toBe(Math.round(expected(k)));
    }
    const sum = Object.values(usage.cost_breakdown).reduce((n, v) => n + v, 0);
    expect(sum).toBeCloseTo(usage.total_cost, 9);
    expect(usage.cost_breakdown.unitemised).toBe(0);
  });
});
