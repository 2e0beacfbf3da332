// Exact cost arithmetic. Prices are USD per one million tokens with at most six decimals (the
// catalogue's Decimal(18,6)); a cost is held as a whole number of picodollars (1e-12 USD) in a
// bigint, so sums never drift the way float sums do. 100 input and 50 output tokens at $30 and
// $60 per 1M cost 3000000000 + 3000000000 pico = $0.006 exactly.
//
// Every kind of token has its own rate: plain input, cache reads, cache writes (Anthropic's
// 5-minute and 1-hour writes apart), audio and image input, output and reasoning output. A price
// may also carry tiers: rates that replace the standard ones for a whole call above an input size
// (Claude and Gemini 2.5 Pro above 200K input tokens, GPT-5.x above 272K) or on a service tier
// (OpenAI's priority and flex), as the vendors bill them.
import type { TokenUsage } from "../../providers/types.ts";
import type { Pico } from "../../../lib/money.ts";

// Picodollars and their exact decimal strings are the dashboard's too: lib/money.ts spells them once.
export { formatUsd, parseUsd, usdNumber, type Pico } from "../../../lib/money.ts";

/** The rates of one kind of token each, USD per 1M tokens as exact decimal text. */
export type PriceRates = {
  inputPerMTok: string;
  outputPerMTok: string;
  /** Input tokens read from the provider's cache; the input price when absent. */
  cachedInputPerMTok?: string | null;
  /** Input tokens written to the provider's cache (Anthropic's 5-minute writes); the input price when absent. */
  cacheWritePerMTok?: string | null;
  /** Anthropic's 1-hour cache writes; the 5-minute write price when absent. */
  cacheWrite1hPerMTok?: string | null;
  /** Reasoning (thinking) output tokens; the output price when absent (every vendor so far bills them as output). */
  reasoningPerMTok?: string | null;
  /** Audio input tokens (Gemini, OpenAI's audio models); the input price when absent. */
  audioInputPerMTok?: string | null;
  /** Image input tokens where the provider counts them apart; the input price when absent. */
  imageInputPerMTok?: string | null;
};

/** The optional rates of PriceRates, in one list (the catalogue's `extra` fields and a tier's overrides). */
export const EXTRA_RATES = ["cacheWrite1hPerMTok", "reasoningPerMTok", "audioInputPerMTok", "imageInputPerMTok"] as const;
export const TIER_RATES = [
  "inputPerMTok",
  "outputPerMTok",
  "cachedInputPerMTok",
  "cacheWritePerMTok",
  ...EXTRA_RATES,
] as const satisfies readonly (keyof PriceRates)[];

/**
 * Rates that replace the standard ones for a whole call: on a service tier (`serviceTier`:
 * "priority", "flex", ...; absent: the standard tier) and/or above an input size
 * (`aboveInputTokens`: the call's input tokens, cached and written ones included, exceed it).
 * A rate the tier leaves out is the standard one.
 */
export type PriceTier = { serviceTier?: string; aboveInputTokens?: number } & { [K in (typeof TIER_RATES)[number]]?: string };

export type Price = PriceRates & { tiers?: readonly PriceTier[] | null };

export type Cost = { inputCost: Pico; outputCost: Pico; totalCost: Pico };

/** A cost in its parts; input parts add up to inputCost, output and reasoning to outputCost. */
export type CostBreakdown = {
  input: Pico;
  cachedInput: Pico;
  cacheWrite5m: Pico;
  cacheWrite1h: Pico;
  audioInput: Pico;
  imageInput: Pico;
  output: Pico;
  reasoning: Pico;
};

export const COST_PARTS = [
  "input",
  "cachedInput",
  "cacheWrite5m",
  "cacheWrite1h",
  "audioInput",
  "imageInput",
  "output",
  "reasoning",
] as const satisfies readonly (keyof CostBreakdown)[];

/** The name of the tier a call was priced at ("priority", ">200K", "priority >272K"), null for the standard rates. */
export type PricedCost = Cost & { breakdown: CostBreakdown; tier: string | null };

export type PricedUsage = Pick<TokenUsage, "inputTokens" | "outputTokens" | "cachedInputTokens"> &
  Partial<
    Pick<
      TokenUsage,
      "reasoningTokens" | "cacheWriteTokens" | "cacheWrite1hTokens" | "audioInputTokens" | "imageInputTokens" | "serviceTier"
    >
  >;

/** "2.5" → 2_500_000n (millionths of a dollar per 1M tokens). Refuses more than 6 decimals. */
export function parsePriceMicros(price: string | number): bigint {
  // Every priced call reads its model's prices: the few distinct texts are parsed once each.
  const known = typeof price === "string" ? parsedPrices.get(price) : undefined;
  if (known !== undefined) return known;
  const text = typeof price === "number" ? numberToPlain(price) : price.trim();
  const m = /^(\d+)(?:\.(\d{0,6}))?$/.exec(text);
  if (!m) throw new Error(`Invalid price ${JSON.stringify(text)}: expected a non-negative decimal with at most 6 decimals`);
  const micros = BigInt(m[1]!) * 1_000_000n + BigInt((m[2] ?? "").padEnd(6, "0"));
  if (typeof price === "string" && parsedPrices.size < 10_000) parsedPrices.set(price, micros);
  return micros;
}

/** Price texts already parsed (bounded: prices are catalogue values, a few hundred at most). */
const parsedPrices = new Map<string, bigint>();

function numberToPlain(n: number): string {
  if (!Number.isFinite(n) || n < 0) return String(n);
  return n.toFixed(6).replace(/\.?0+$/, "");
}

/** The service tier a provider names, in the catalogue's terms: the standard tier (OpenAI "default", Anthropic "standard", "auto") is undefined. */
export function normalServiceTier(tier: string | null | undefined): string | undefined {
  if (!tier) return undefined;
  const t = tier.toLowerCase();
  return t === "default" || t === "standard" || t === "auto" || t === "standard_only" ? undefined : t;
}

/** A tier's label: "priority", ">200K", "priority >272K". */
export function tierLabel(tier: PriceTier): string {
  const size = tier.aboveInputTokens
    ? `>${tier.aboveInputTokens % 1000 === 0 ? `${tier.aboveInputTokens / 1000}K` : tier.aboveInputTokens}`
    : "";
  return [tier.serviceTier ?? "", size].filter(Boolean).join(" ") || "standard";
}

/**
 * The tier that prices a call: of the tiers of the call's service tier, the one with the highest
 * input threshold the call's input exceeds; none (the standard rates) when no tier applies.
 */
export function tierFor(price: Price, usage: { inputTokens: number; serviceTier?: string | null }): PriceTier | undefined {
  const service = normalServiceTier(usage.serviceTier);
  let best: PriceTier | undefined;
  for (const tier of price.tiers ?? []) {
    if (normalServiceTier(tier.serviceTier) !== service) continue;
    const above = tier.aboveInputTokens ?? 0;
    if (usage.inputTokens <= above) continue;
    if (!best || above > (best.aboveInputTokens ?? 0)) best = tier;
  }
  return best;
}

/** The rates a call pays: the standard rates with its tier's in their place. */
export function ratesFor(price: Price, usage: { inputTokens: number; serviceTier?: string | null }): PriceRates & { tier: string | null } {
  const tier = tierFor(price, usage);
  const rates: PriceRates = { ...price };
  if (tier) for (const k of TIER_RATES) if (tier[k] != null) rates[k] = tier[k];
  return { ...rates, tier: tier ? tierLabel(tier) : null };
}

/**
 * Cost of `usage` at `price`, each kind of token at its own rate: cache reads, 5-minute and 1-hour
 * cache writes, audio and image input, the rest of the input at the input rate; reasoning tokens
 * (part of the output) at the reasoning rate, the rest at the output rate. Subsets are clamped so a
 * provider's inconsistent counts can never price a token twice.
 */
export function costOf(price: Price, usage: PricedUsage): PricedCost {
  const r = ratesFor(price, usage);
  const inputRate = parsePriceMicros(r.inputPerMTok);
  const outputRate = parsePriceMicros(r.outputPerMTok);
  const rate = (value: string | null | undefined, fallback: bigint) => (value != null ? parsePriceMicros(value) : fallback);
  const cachedRate = rate(r.cachedInputPerMTok, inputRate);
  const write5mRate = rate(r.cacheWritePerMTok, inputRate);
  const write1hRate = rate(r.cacheWrite1hPerMTok, write5mRate);
  const audioRate = rate(r.audioInputPerMTok, inputRate);
  const imageRate = rate(r.imageInputPerMTok, inputRate);
  const reasoningRate = rate(r.reasoningPerMTok, outputRate);

  let left = Math.max(0, usage.inputTokens);
  const take = (n: number | undefined) => {
    const t = Math.min(Math.max(0, n ?? 0), left);
    left -= t;
    return BigInt(t);
  };
  const cached = take(usage.cachedInputTokens);
  const writes = Math.max(0, usage.cacheWriteTokens ?? 0);
  const written1h = take(Math.min(usage.cacheWrite1hTokens ?? 0, writes));
  const written5m = take(writes - Math.min(usage.cacheWrite1hTokens ?? 0, writes));
  const audio = take(usage.audioInputTokens);
  const image = take(usage.imageInputTokens);
  const plain = BigInt(left);
  const output = Math.max(0, usage.outputTokens);
  const reasoning = BigInt(Math.min(Math.max(0, usage.reasoningTokens ?? 0), output));

  // tokens × (µUSD per 1M tokens) = pUSD, since 1e-6 / 1e6 = 1e-12.
  const breakdown: CostBreakdown = {
    input: plain * inputRate,
    cachedInput: cached * cachedRate,
    cacheWrite5m: written5m * write5mRate,
    cacheWrite1h: written1h * write1hRate,
    audioInput: audio * audioRate,
    imageInput: image * imageRate,
    output: (BigInt(output) - reasoning) * outputRate,
    reasoning: reasoning * reasoningRate,
  };
  const inputCost =
    breakdown.input + breakdown.cachedInput + breakdown.cacheWrite5m + breakdown.cacheWrite1h + breakdown.audioInput + breakdown.imageInput;
  const outputCost = breakdown.output + breakdown.reasoning;
  return { inputCost, outputCost, totalCost: inputCost + outputCost, breakdown, tier: r.tier };
}

/** The dearest rate any input token of `price` may be billed at, over every tier (a budget's hold counts the prompt at it). */
export function dearestInputRate(price: Price): bigint {
  const kinds = (r: Partial<PriceRates>) =>
    [r.inputPerMTok, r.cacheWritePerMTok, r.cacheWrite1hPerMTok, r.audioInputPerMTok, r.imageInputPerMTok].filter(
      (v): v is string => v != null,
    );
  return [price, ...(price.tiers ?? [])].flatMap(kinds).reduce((m, v) => {
    const p = parsePriceMicros(v);
    return p > m ? p : m;
  }, 0n);
}

/** The dearest output rate of `price` over every tier. */
export function dearestOutputRate(price: Price): bigint {
  return [price, ...(price.tiers ?? [])]
    .flatMap((r) => [r.outputPerMTok, r.reasoningPerMTok].filter((v): v is string => v != null))
    .reduce((m, v) => {
      const p = parsePriceMicros(v);
      return p > m ? p : m;
    }, 0n);
}
