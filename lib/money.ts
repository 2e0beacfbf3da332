// Money as both the UI and the server handle it. Amounts are held as whole picodollars (1e-12 USD)
// in a bigint, so sums never drift; they travel as exact decimal strings, and are rounded only
// for display (the dashboard keeps the exact value in a title or a data attribute).

/** USD amounts in picodollars. */
export type Pico = bigint;

const PICO_PER_USD = 1_000_000_000_000n;

/** Picodollars as an exact decimal string: 6000000000n → "0.006". */
export function formatUsd(pico: Pico): string {
  const negative = pico < 0n;
  const abs = negative ? -pico : pico;
  const whole = abs / PICO_PER_USD;
  const frac = (abs % PICO_PER_USD).toString().padStart(12, "0").replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${frac ? `.${frac}` : ""}`;
}

/** Picodollars as a JSON number (the decimal string's nearest double). */
export function usdNumber(pico: Pico): number {
  return Number(formatUsd(pico));
}

/** An exact decimal string (e.g. the database's numeric) back to picodollars. */
export function parseUsd(text: string): Pico {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!m) throw new Error(`Invalid amount ${JSON.stringify(text)}`);
  const frac = (m[3] ?? "").padEnd(12, "0");
  if (frac.length > 12 && /[1-9]/.test(frac.slice(12))) throw new Error(`Amount ${text} has more than 12 decimals`);
  const value = BigInt(m[2]!) * PICO_PER_USD + BigInt(frac.slice(0, 12));
  return m[1] ? -value : value;
}

/** A decimal string without trailing zeros after the point: "12.500000" -> "12.5", "25.000000" -> "25". */
export function trimDecimal(text: string): string {
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

/** An exact decimal string as dollars, every digit kept, with at least two decimals: "2.5" → "$2.50", "0.000075" → "$0.000075". */
export function exactDollars(text: string): string {
  const [whole, frac = ""] = text.split(".");
  return `$${whole}.${frac.padEnd(2, "0")}`;
}

/** A cost for display: "$1,234.57", "$0.0123", "$0.000083", "$0.00000004"; more decimals as amounts get smaller (below a
    cent, at least two significant digits, down to the picodollar), so a non-zero cost never reads "$0.00". */
export function money(exact: string | number): string {
  const v = typeof exact === "number" ? exact : Number(exact);
  if (v === 0) return "$0.00";
  const abs = Math.abs(v);
  const firstDigit = Math.floor(-Math.log10(abs)) + 1;
  const digits = abs >= 1 ? 2 : abs >= 0.01 ? 4 : Math.min(12, Math.max(6, firstDigit + 1));
  return `${v < 0 ? "-" : ""}$${abs.toLocaleString("en-US", { minimumFractionDigits: digits > 2 ? 2 : digits, maximumFractionDigits: digits })}`;
}
