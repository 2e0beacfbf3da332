import { describe, expect, it } from "vitest";
import { costOf, formatUsd, parsePriceMicros, parseUsd, usdNumber } from "./pricing.ts";

describe("pricing", () => {
  it("computes DESIGN.md's example exactly: 100 in + 50 out at $0.03/$0.06 per 1K = $0.006", () => {
    const cost = costOf({ inputPerMTok: "30", outputPerMTok: "60" }, { inputTokens: 100, outputTokens: 50, cachedInputTokens: 0 });
    expect(formatUsd(cost.inputCost)).toBe("0.003");
    expect(formatUsd(cost.outputCost)).toBe("0.003");
    expect(formatUsd(cost.totalCost)).toBe("0.006");
    expect(usdNumber(cost.totalCost)).toBe(0.006);
  });

  it("prices cached input tokens at the cached price and the rest at the input price", () => {
    // gpt-4o: $2.5 in, $1.25 cached, $10 out per 1M; 1000 in of which 400 cached, 200 out.
    const cost = costOf(
      { inputPerMTok: "2.5", outputPerMTok: "10", cachedInputPerMTok: "1.25" },
      { inputTokens: 1000, outputTokens: 200, cachedInputTokens: 400 },
    );
    expect(formatUsd(cost.inputCost)).toBe("0.002"); // 600 × 2.5e-6 + 400 × 1.25e-6 = 0.0015 + 0.0005
    expect(formatUsd(cost.outputCost)).toBe("0.002");
    expect(formatUsd(cost.totalCost)).toBe("0.004");
  });

  it("prices cache writes at the cache-write rate (Claude Sonnet: $3.75 against $3 per 1M), else at the input price", () => {
    const sonnet = { inputPerMTok: "3", outputPerMTok: "15", cachedInputPerMTok: "0.3", cacheWritePerMTok: "3.75" };
    // 1,000 input tokens: 600 read from the cache, 300 written to it, 100 plain; 10 output.
    const usage = { inputTokens: 1_000, outputTokens: 10, cachedInputTokens: 600, cacheWriteTokens: 300 };
    const cost = costOf(sonnet, usage);
    // 100 × $3 + 600 × $0.30 + 300 × $3.75 per 1M = $0.0003 + $0.00018 + $0.001125
    expect(formatUsd(cost.inputCost)).toBe("0.001605");
    expect(formatUsd(cost.totalCost)).toBe("0.001755");
    // Without a cache-write price the writes cost what input costs.
    expect(formatUsd(costOf({ ...sonnet, cacheWritePerMTok: null }, usage).inputCost)).toBe("0.00138");
    // Writes never count beyond the input left after the cached tokens.
    expect(costOf(sonnet, { ...usage, cacheWriteTokens: 5_000 }).inputCost).toBe(
      costOf(sonnet, { ...usage, cacheWriteTokens: 400 }).inputCost,
    );
  });

  it("keeps sums exact where floats drift (0.1 + 0.2)", () => {
    const a = costOf(
      { inputPerMTok: "0.1", outputPerMTok: "0" },
      { inputTokens: 1_000_000, outputTokens: 0, cachedInputTokens: 0 },
    ).totalCost;
    const b = costOf(
      { inputPerMTok: "0.2", outputPerMTok: "0" },
      { inputTokens: 1_000_000, outputTokens: 0, cachedInputTokens: 0 },
    ).totalCost;
    expect(0.1 + 0.2).not.toBe(0.3);
    expect(formatUsd(a + b)).toBe("0.3");
  });

  it("handles the smallest prices without exponent notation (gpt-5-nano cached: $0.005 per 1M)", () => {
    const cost = costOf(
      { inputPerMTok: "0.05", outputPerMTok: "0.4", cachedInputPerMTok: "0.005" },
      { inputTokens: 1, outputTokens: 0, cachedInputTokens: 1 },
    );
    expect(formatUsd(cost.totalCost)).toBe("0.000000005");
  });

  it("parses prices and amounts, refusing what it cannot hold exactly", () => {
    expect(parsePriceMicros("1.63")).toBe(1_630_000n);
    expect(parsePriceMicros(0.075)).toBe(75_000n);
    expect(() => parsePriceMicros("1.0000001")).toThrow(/at most 6 decimals/);
    expect(() => parsePriceMicros("-1")).toThrow();
    expect(parseUsd("0.006000000000")).toBe(6_000_000_000n);
    expect(parseUsd("12")).toBe(12_000_000_000_000n);
    expect(formatUsd(parseUsd("-0.5"))).toBe("-0.5");
  });
});
