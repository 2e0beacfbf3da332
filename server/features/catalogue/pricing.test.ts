import { describe, expect, it } from "vitest";
import { costOf, dearestInputRate, formatUsd, parsePriceMicros, parseUsd, tierFor, usdNumber } from "./pricing.ts";

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

  it("prices every kind of token at its own rate and keeps the parts (1-hour writes, audio, image, reasoning)", () => {
    const price = {
      inputPerMTok: "3",
      outputPerMTok: "15",
      cachedInputPerMTok: "0.3",
      cacheWritePerMTok: "3.75",
      cacheWrite1hPerMTok: "6",
      audioInputPerMTok: "10",
      imageInputPerMTok: "4",
      reasoningPerMTok: "20",
    };
    // 100 input: 10 cached, 30 written (20 for 1 hour), 5 audio, 5 image, 50 plain; 40 output of which 10 reasoning.
    const usage = {
      inputTokens: 100,
      outputTokens: 40,
      cachedInputTokens: 10,
      cacheWriteTokens: 30,
      cacheWrite1hTokens: 20,
      audioInputTokens: 5,
      imageInputTokens: 5,
      reasoningTokens: 10,
    };
    const c = costOf(price, usage);
    expect(c.breakdown).toEqual({
      input: 50n * 3_000_000n,
      cachedInput: 10n * 300_000n,
      cacheWrite5m: 10n * 3_750_000n,
      cacheWrite1h: 20n * 6_000_000n,
      audioInput: 5n * 10_000_000n,
      imageInput: 5n * 4_000_000n,
      output: 30n * 15_000_000n,
      reasoning: 10n * 20_000_000n,
    });
    // 50 × $3 + 10 × $0.30 + 10 × $3.75 + 20 × $6 + 5 × $10 + 5 × $4 per 1M = $0.0003805
    expect(formatUsd(c.inputCost)).toBe("0.0003805");
    expect(c.totalCost).toBe(c.inputCost + c.outputCost);
    expect(c.tier).toBeNull();
    // Rates left out fall back: the 1-hour write to the 5-minute one, audio and image to input, reasoning to output.
    const plain = costOf({ inputPerMTok: "3", outputPerMTok: "15", cacheWritePerMTok: "3.75" }, usage);
    expect(plain.breakdown.cacheWrite1h).toBe(20n * 3_750_000n);
    expect(plain.breakdown.audioInput).toBe(5n * 3_000_000n);
    expect(plain.breakdown.reasoning).toBe(10n * 15_000_000n);
  });

  it("prices the whole call at the tier it falls in: above an input size, on a service tier, the highest threshold exceeded", () => {
    const price = {
      inputPerMTok: "2.5",
      outputPerMTok: "15",
      cachedInputPerMTok: "0.25",
      tiers: [
        { aboveInputTokens: 272_000, inputPerMTok: "5", outputPerMTok: "22.5", cachedInputPerMTok: "0.5" },
        { serviceTier: "priority", inputPerMTok: "5", outputPerMTok: "30" },
        { serviceTier: "priority", aboveInputTokens: 272_000, inputPerMTok: "10", outputPerMTok: "45" },
        { serviceTier: "flex", inputPerMTok: "1.25" },
      ],
    };
    const at = (inputTokens: number, serviceTier?: string) =>
      costOf(price, { inputTokens, outputTokens: 10, cachedInputTokens: 0, serviceTier });
    // At the threshold: the standard rates; one token more: every token at the higher ones.
    expect(at(272_000)).toMatchObject({ tier: null, totalCost: 272_000n * 2_500_000n + 10n * 15_000_000n });
    expect(at(272_001)).toMatchObject({ tier: ">272K", totalCost: 272_001n * 5_000_000n + 10n * 22_500_000n });
    expect(at(1_000, "priority")).toMatchObject({ tier: "priority", totalCost: 1_000n * 5_000_000n + 10n * 30_000_000n });
    expect(at(300_000, "priority").tier).toBe("priority >272K");
    // A tier leaves a rate out: the standard one (flex output at $15).
    expect(at(1_000, "flex")).toMatchObject({ tier: "flex", totalCost: 1_000n * 1_250_000n + 10n * 15_000_000n });
    // The standard tier under its providers' names; a tier the price does not know: the standard rates.
    expect(tierFor(price, { inputTokens: 10, serviceTier: "default" })).toBeUndefined();
    expect(tierFor(price, { inputTokens: 10, serviceTier: "scale" })).toBeUndefined();
    // A budget holds the prompt at the dearest input rate any tier can bill.
    expect(dearestInputRate(price)).toBe(10_000_000n);
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
