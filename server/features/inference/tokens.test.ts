import { describe, expect, it } from "vitest";
import { countPromptTokens, countTextTokens } from "./tokens.ts";

describe("token counting", () => {
  it("counts text with o200k_base", () => {
    expect(countTextTokens("")).toBe(0);
    expect(countTextTokens("Hello world")).toBe(2);
  });
  it("counts a chat prompt with OpenAI's per-message overhead", () => {
    // 3 priming + per message (3 + content + role): "Hello world" = 2, "user" = 1
    expect(countPromptTokens([{ role: "user", content: "Hello world" }])).toBe(3 + 3 + 2 + 1);
  });
});
