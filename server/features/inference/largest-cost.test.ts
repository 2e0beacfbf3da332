// What a generation attempt reserves against budgets: the most it can cost, with the prompt's
// input priced at the dearer of plain input and a prompt-cache write (a call may write all of it).
import { describe, expect, it } from "vitest";
import { chatModel } from "@/tests/support/catalogue-model.ts";
import { formatUsd } from "../catalogue/index.ts";
import { largestAttemptCost } from "./generation.ts";

describe("largestAttemptCost", () => {
  const model = { ...chatModel("sonnet"), contextWindow: 200_000, maxOutputTokens: 8_192 };
  const input = { model: "sonnet", messages: [{ role: "user" as const, content: "hi" }], maxTokens: 1_000 };

  it("prices the prompt at the cache-write rate when that is dearer (Sonnet: $3.75 against $3 per 1M)", () => {
    const sonnet = { inputPerMTok: "3", outputPerMTok: "15", cachedInputPerMTok: "0.3", cacheWritePerMTok: "3.75" };
    // 10,000 prompt tokens × $3.75 + 1,000 output × $15 per 1M = $0.0375 + $0.015
    expect(formatUsd(largestAttemptCost(model, input, () => 10_000, sonnet))).toBe("0.0525");
    // Without a cache-write price: the input price.
    expect(formatUsd(largestAttemptCost(model, input, () => 10_000, { ...sonnet, cacheWritePerMTok: null }))).toBe("0.045");
  });

  it("holds the prompt at the dearest rate of the price: 1-hour writes and tiers included (Sonnet 4.5 above 200K: $12 per 1M)", () => {
    const sonnet = {
      inputPerMTok: "3",
      outputPerMTok: "15",
      cacheWritePerMTok: "3.75",
      cacheWrite1hPerMTok: "6",
      tiers: [{ aboveInputTokens: 200_000, inputPerMTok: "6", outputPerMTok: "22.5", cacheWrite1hPerMTok: "12" }],
    };
    // 10,000 × $12 + 1,000 × $22.5 per 1M
    expect(formatUsd(largestAttemptCost(model, input, () => 10_000, sonnet))).toBe("0.1425");
  });
});
