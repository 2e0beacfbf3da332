// The latency histogram: buckets, the packed form the database sums, and the percentile error bound.
import { describe, expect, it } from "vitest";
import {
  decodeHistogram,
  encodeHistogram,
  histogramPercentile,
  LATENCY_BUCKET_BOUNDS,
  LATENCY_BUCKETS,
  latencyBucket,
  MAX_RELATIVE_ERROR,
  percentiles,
} from "./latency-histogram.ts";

describe("latency histogram", () => {
  it("has 77 buckets: 0 ms, whole milliseconds up to 8, then four per doubling up to 2^20 ms", () => {
    expect(LATENCY_BUCKETS).toBe(77);
    expect(LATENCY_BUCKET_BOUNDS.slice(0, 10)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 10, 12]);
    expect(LATENCY_BUCKET_BOUNDS.at(-1)).toBe(2 ** 20);
    expect([0, 1, 7, 8, 9, 10, 1000, 2 ** 20 - 1, 2 ** 20, 10 ** 9].map(latencyBucket)).toEqual([0, 1, 7, 8, 8, 9, 35, 75, 76, 76]);
  });

  it("reports every latency up to 2^20 ms within the documented error, and exactly below 8 ms", () => {
    let worst = 0;
    for (let v = 1; v < 2 ** 20; v += v < 10_000 ? 1 : 97) {
      const counts = new Array<number>(LATENCY_BUCKETS).fill(0);
      counts[latencyBucket(v)] = 1;
      const estimate = histogramPercentile(counts, 50)!;
      if (v < 8) expect(estimate).toBe(v);
      worst = Math.max(worst, Math.abs(estimate - v) / v);
    }
    expect(worst).toBeLessThanOrEqual(MAX_RELATIVE_ERROR);
    expect(worst).toBeGreaterThan(0.08);
  });

  it("packs counts 12 digits per bucket, so that sums of packed numbers are sums of histograms", () => {
    const a = new Array<number>(LATENCY_BUCKETS).fill(0);
    const b = new Array<number>(LATENCY_BUCKETS).fill(0);
    a[0] = 3;
    a[35] = 999_999_999_999;
    b[76] = 5;
    b[35] = 0;
    expect(decodeHistogram(encodeHistogram(a))).toEqual(a);
    const sum = (BigInt(encodeHistogram(a)) + BigInt(encodeHistogram(b))).toString();
    expect(decodeHistogram(sum)).toEqual(a.map((x, i) => x + b[i]!));
    expect(decodeHistogram("0")).toEqual(new Array(LATENCY_BUCKETS).fill(0));
    expect(decodeHistogram(null)).toEqual(new Array(LATENCY_BUCKETS).fill(0));
    expect(() => decodeHistogram("12abc")).toThrow(/packed latency histogram/);
  });

  it("takes nearest-rank percentiles", () => {
    const counts = new Array<number>(LATENCY_BUCKETS).fill(0);
    for (const v of [1, 2, 3, 4, 5, 6, 7, 7, 7, 7]) counts[latencyBucket(v)]!++;
    expect(percentiles(counts)).toEqual({ p50: 5, p95: 7 });
    expect(percentiles(new Array(LATENCY_BUCKETS).fill(0))).toEqual({ p50: null, p95: null });
  });
});
