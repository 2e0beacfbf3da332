// A fixed log-scale latency histogram that the database can sum with plain `sum()`.
//
// Buckets: 0 ms, then [1, 2), [2, 3) … with four buckets per doubling (bounds ⌈2^(k/4)⌉ ms), up to
// 2^20 ms (17.5 min), then one overflow bucket: 77 buckets. A percentile is reported as the
// geometric middle of its bucket (to 0.1 ms), so the estimate is within 9.1 % (2^(1/8) − 1, plus
// the rounding) of the true nearest-rank percentile, and exact below 8 ms where buckets hold one
// whole millisecond each.
//
// Why a packed number and not an int[]: a roll-up row's histogram is stored as one decimal with
// 12 digits per bucket (count_i × 10^(12·i)), so summing histograms across roll-up rows is a
// numeric `sum()` (a few ms for thousands of rows) and merging on upsert is `+`; summing int[]
// element-wise needs unnest and was 20 to 30 times slower here. A bucket can hold up to 10^12 − 1
// events in any one sum before it would carry into the next; NUMERIC(1000, 0) holds 77 × 12 digits.
import { z } from "zod";

/** Lower bounds in whole ms of buckets 1..76 (bucket 0 is 0 ms; bucket 76 is everything from 2^20 ms up). */
export const LATENCY_BUCKET_BOUNDS: readonly number[] = (() => {
  const bounds = new Set<number>();
  for (let k = 0; k <= 80; k++) bounds.add(Math.ceil(2 ** (k / 4) - 1e-9));
  return [...bounds];
})();

export const LATENCY_BUCKETS = LATENCY_BUCKET_BOUNDS.length + 1;
const LANE_DIGITS = 12;
/** How far a reported percentile can be from the true one: 2^(1/8) − 1 plus rounding to 0.1 ms. */
export const MAX_RELATIVE_ERROR = 0.091;

/** The bucket of a latency in ms: PostgreSQL's width_bucket over the same bounds. */
export function latencyBucket(ms: number): number {
  let lo = 0;
  let hi = LATENCY_BUCKET_BOUNDS.length;
  // Number of bounds <= ms (binary search), as width_bucket(ms, bounds) counts them.
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (LATENCY_BUCKET_BOUNDS[mid]! <= ms) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** SQL for one event's packed histogram (a numeric), from an integer latency column. */
export function latencyHistSql(column: string): string {
  return `('1e' || (${LANE_DIGITS} * width_bucket(${column}, '{${LATENCY_BUCKET_BOUNDS.join(",")}}'::int[])))::numeric`;
}

/** A packed histogram (the decimal text PostgreSQL returns) as counts per bucket. */
export function decodeHistogram(packed: string | null | undefined): number[] {
  const counts = new Array<number>(LATENCY_BUCKETS).fill(0);
  const text = (packed ?? "0").trim().replace(/\.0*$/, "");
  if (!/^\d+$/.test(text)) throw new Error(`Not a packed latency histogram: ${JSON.stringify(packed).slice(0, 40)}`);
  for (let i = 0, end = text.length; end > 0 && i < LATENCY_BUCKETS; i++, end -= LANE_DIGITS) {
    counts[i] = Number(text.slice(Math.max(0, end - LANE_DIGITS), end));
  }
  return counts;
}

/** Counts per bucket packed the way the database stores them (for tests and the benchmark). */
export function encodeHistogram(counts: readonly number[]): string {
  let out = "";
  for (let i = counts.length - 1; i >= 0; i--) out += String(counts[i] ?? 0).padStart(LANE_DIGITS, "0");
  return out.replace(/^0+(?=\d)/, "");
}

export function addHistograms(a: number[], b: readonly number[]): number[] {
  for (let i = 0; i < a.length; i++) a[i]! += b[i] ?? 0;
  return a;
}

/** The estimate for a bucket: its geometric middle over the whole milliseconds it holds. */
function bucketEstimate(bucket: number): number {
  if (bucket === 0) return 0;
  const lo = LATENCY_BUCKET_BOUNDS[bucket - 1]!;
  if (bucket >= LATENCY_BUCKET_BOUNDS.length) return lo;
  const hi = LATENCY_BUCKET_BOUNDS[bucket]! - 1;
  return Math.round(Math.sqrt(lo * hi) * 10) / 10;
}

/** The p-th percentile (0 < p ≤ 100, nearest rank) in ms, or null without events. */
export function histogramPercentile(counts: readonly number[], p: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= rank) return bucketEstimate(i);
  }
  return bucketEstimate(counts.length - 1);
}

export const percentilesSchema = z.object({ p50: z.number().nullable(), p95: z.number().nullable() });
export type Percentiles = z.infer<typeof percentilesSchema>;

export function percentiles(counts: readonly number[]): Percentiles {
  return { p50: histogramPercentile(counts, 50), p95: histogramPercentile(counts, 95) };
}
