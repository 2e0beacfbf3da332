// The API reference's wording of limits and descriptions (#20 item 6).
import { describe, expect, it } from "vitest";
import { constraints, textParts } from "./api-reference-text";

describe("constraints", () => {
  it("writes limits as people write them", () => {
    expect(constraints({ minimum: 1, maximum: 1000 })).toBe("1–1,000");
    expect(constraints({ maxLength: 100000 })).toBe("≤ 100,000 chars");
    expect(constraints({ minItems: 1, maxItems: 2048 })).toBe("1–2,048 items");
    expect(constraints({ minimum: 0, maximum: 2, default: 1 })).toBe("0–2, default 1");
  });

  it("leaves out zod's unbounded integer limits (9007199254740991) and an empty string's minimum of 0", () => {
    expect(constraints({ type: "integer", minimum: -9007199254740991, maximum: 9007199254740991 })).toBe("");
    expect(constraints({ type: "integer", minimum: 1, maximum: 9007199254740991 })).toBe("≥ 1");
    expect(constraints({ minLength: 0 })).toBe("");
    expect(constraints({ minimum: 5, maximum: 5 })).toBe("exactly 5");
  });
});

describe("textParts", () => {
  it("turns `code` into code parts and keeps the rest as text", () => {
    expect(textParts("Send `stream: true` for SSE; see `usage`.")).toEqual([
      { code: false, text: "Send " },
      { code: true, text: "stream: true" },
      { code: false, text: " for SSE; see " },
      { code: true, text: "usage" },
      { code: false, text: "." },
    ]);
    expect(textParts("no code here")).toEqual([{ code: false, text: "no code here" }]);
    expect(textParts("a lone ` stays")).toEqual([{ code: false, text: "a lone ` stays" }]);
  });
});
