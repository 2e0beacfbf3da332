// Exact cost arithmetic. Prices are USD per one million tokens with at most six decimals (the
// catalogue's Decimal(18,6)); a cost is held as a whole number of picodollars (1e-12 USD) in a
// bigint, so sums never drift the way float sums do. 100 input and 50 output tokens at $30 and
// $60 per 1M cost 3000000000 + 3000000000 pico = $0.006 exactly.
import type { TokenUsage } from "../../providers/types.ts";
import type { Pico } from "../../../lib/money.ts";

// Picodollars and their exact decimal strings are the dashboard's too: lib/money.ts spells them once.
export { formatUsd, parseUsd, usdNumber, type Pico } from "../../../lib/money.ts";

export type Price = {
  inputPerMTok: string;
  outputPerMTok: string;
  /** Price of input tokens read from the provider's cache; the input price when absent. */
  cachedInputPerMTok?: string | null;
  /** Price of input tokens written to the provider's cache; the input price when absent. */
  cacheWritePerMTok?: string | null;
};

export type Cost = { inputCost: Pico; outputCost: Pico; totalCost: Pico };

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

/** Cost of `usage` at `price`: cached input tokens at the cached price, reasoning tokens as output. */
export function costOf(
  price: Price,
  usage: Pick<TokenUsage, "inputTokens" | "outputTokens" | "cachedInputTokens" | "cacheWriteTokens">,
): Cost {
  const inputPrice = parsePriceMicros(price.inputPerMTok);
  const cachedPrice = price.cachedInputPerMTok != null ? parsePriceMicros(price.cachedInputPerMTok) : inputPrice;
  const writePrice = price.cacheWritePerMTok != null ? parsePriceMicros(price.cacheWritePerMTok) : inputPrice;
  const outputPrice = parsePriceMicros(price.outputPerMTok);
  const cachedTokens = Math.min(usage.cachedInputTokens, usage.inputTokens);
  const cached = BigInt(cachedTokens);
  const written = BigInt(Math.min(usage.cacheWriteTokens ?? 0, usage.inputTokens - cachedTokens));
  const uncached = BigInt(usage.inputTokens) - cached - written;
  // tokens × (µUSD per 1M tokens) = pUSD, since 1e-6 / 1e6 = 1e-12. Each kind of input token at its own rate.
  const inputCost = uncached * inputPrice + cached * cachedPrice + written * writePrice;
  const outputCost = BigInt(usage.outputTokens) * outputPrice;
  return { inputCost, outputCost, totalCost: inputCost + outputCost };
}
