// Exact cost arithmetic. Prices are USD per one million tokens with at most six decimals (the
// catalogue's Decimal(18,6)); a cost is held as a whole number of picodollars (1e-12 USD) in a
// bigint, so sums never drift the way float sums do. 100 input and 50 output tokens at $30 and
// $60 per 1M cost 3000000000 + 3000000000 pico = $0.006 exactly.
import type { TokenUsage } from "../../providers/types.ts";

/** USD amounts in picodollars. */
export type Pico = bigint;

export type Price = {
  inputPerMTok: string;
  outputPerMTok: string;
  /** Price of input tokens read from the provider's cache; the input price when absent. */
  cachedInputPerMTok?: string | null;
};

export type Cost = { inputCost: Pico; outputCost: Pico; totalCost: Pico };

/** "2.5" → 2_500_000n (millionths of a dollar per 1M tokens). Refuses more than 6 decimals. */
export function parsePriceMicros(price: string | number): bigint {
  const text = typeof price === "number" ? numberToPlain(price) : price.trim();
  const m = /^(\d+)(?:\.(\d{0,6}))?$/.exec(text);
  if (!m) throw new Error(`Invalid price ${JSON.stringify(text)}: expected a non-negative decimal with at most 6 decimals`);
  return BigInt(m[1]!) * 1_000_000n + BigInt((m[2] ?? "").padEnd(6, "0"));
}

function numberToPlain(n: number): string {
  if (!Number.isFinite(n) || n < 0) return String(n);
  return n.toFixed(6).replace(/\.?0+$/, "");
}

/** Cost of `usage` at `price`: cached input tokens at the cached price, reasoning tokens as output. */
export function costOf(price: Price, usage: Pick<TokenUsage, "inputTokens" | "outputTokens" | "cachedInputTokens">): Cost {
  const inputPrice = parsePriceMicros(price.inputPerMTok);
  const cachedPrice = price.cachedInputPerMTok != null ? parsePriceMicros(price.cachedInputPerMTok) : inputPrice;
  const outputPrice = parsePriceMicros(price.outputPerMTok);
  const cached = BigInt(Math.min(usage.cachedInputTokens, usage.inputTokens));
  const uncached = BigInt(usage.inputTokens) - cached;
  // tokens × (µUSD per 1M tokens) = pUSD, since 1e-6 / 1e6 = 1e-12.
  const inputCost = uncached * inputPrice + cached * cachedPrice;
  const outputCost = BigInt(usage.outputTokens) * outputPrice;
  return { inputCost, outputCost, totalCost: inputCost + outputCost };
}

/** Picodollars as an exact decimal string: 6000000000n → "0.006". */
export function formatUsd(pico: Pico): string {
  const negative = pico < 0n;
  const abs = negative ? -pico : pico;
  const whole = abs / 1_000_000_000_000n;
  const frac = (abs % 1_000_000_000_000n).toString().padStart(12, "0").replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${frac ? `.${frac}` : ""}`;
}

/** Picodollars as a JSON number (the decimal string's nearest double). */
export function usdNumber(pico: Pico): number {
  return Number(formatUsd(pico));
}

/** An exact decimal string from the database (numeric) back to picodollars. */
export function parseUsd(text: string): Pico {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!m) throw new Error(`Invalid amount ${JSON.stringify(text)}`);
  const frac = (m[3] ?? "").padEnd(12, "0");
  if (frac.length > 12 && /[1-9]/.test(frac.slice(12))) throw new Error(`Amount ${text} has more than 12 decimals`);
  const value = BigInt(m[2]!) * 1_000_000_000_000n + BigInt(frac.slice(0, 12));
  return m[1] ? -value : value;
}
