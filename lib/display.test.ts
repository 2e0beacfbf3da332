// The isomorphic helpers the dashboard and the server share: money, dates, numbers and scopes.
import { describe, expect, it } from "vitest";
import { scopesFor, SCOPES, tiersFor, USER_SCOPES } from "./access.ts";
import { defaultCapability, providerName } from "./catalogue.ts";
import { addDays, dateTime, daysBetween, defaultRange, eachDay, shortDate, todayIn } from "./dates.ts";
import { compact, count, ms, percent, pointChange, relativeChange } from "./format.ts";
import { exactDollars, formatUsd, money, parseUsd, trimDecimal } from "./money.ts";

describe("money", () => {
  it("keeps exact amounts exact and rounds only for display", () => {
    expect(formatUsd(6_000_000_000n)).toBe("0.006");
    expect(formatUsd(-1_500_000_000_000n)).toBe("-1.5");
    expect(parseUsd("0.000000000001")).toBe(1n);
    expect(formatUsd(parseUsd("12.345678901234"))).toBe("12.345678901234");
    expect(() => parseUsd("0.0000000000001")).toThrow(/more than 12 decimals/);
    expect(trimDecimal("12.500000")).toBe("12.5");
    expect(trimDecimal("25.000000")).toBe("25");
    expect(exactDollars("2.5")).toBe("$2.50");
    expect(exactDollars("0.000075")).toBe("$0.000075");
    expect(exactDollars("3")).toBe("$3.00");
    expect(money("1234.567")).toBe("$1,234.57");
    expect(money("0.0123")).toBe("$0.0123");
    expect(money(0.0000834)).toBe("$0.000083");
    expect(money("0")).toBe("$0.00");
  });
});

describe("dates", () => {
  it("does day arithmetic in UTC", () => {
    expect(addDays("2026-02-28", 1)).toBe("2026-03-01");
    expect(addDays("2026-01-01", -1)).toBe("2025-12-31");
    expect(daysBetween("2026-11-01", "2026-11-30")).toBe(30);
    expect(eachDay("2026-12-30", "2027-01-02")).toEqual(["2026-12-30", "2026-12-31", "2027-01-01", "2027-01-02"]);
    expect(shortDate("2026-11-03")).toBe("Nov 3");
  });

  it("knows today in a zone, from an instant as a number or a Date", () => {
    const at = Date.UTC(2026, 10, 25, 12);
    expect(todayIn("Pacific/Auckland", at)).toBe("2026-11-26");
    expect(todayIn("Pacific/Auckland", new Date(at))).toBe("2026-11-26");
    expect(todayIn("America/Los_Angeles", Date.UTC(2026, 10, 25, 3))).toBe("2026-11-24");
    expect(todayIn("UTC", at)).toBe("2026-11-25");
  });

  it("gives the last n days, today included", () => {
    const r = defaultRange("UTC", 7);
    expect(r.end).toBe(todayIn("UTC"));
    expect(daysBetween(r.start, r.end)).toBe(7);
    expect(r.tz).toBe("UTC");
    expect(dateTime(null)).toBe("never");
    expect(dateTime(new Date(Date.UTC(2026, 10, 3, 14, 5)))).toMatch(/2026/);
  });
});

describe("numbers", () => {
  it("formats counts, durations and changes", () => {
    expect(count(1234567)).toBe("1,234,567");
    expect(compact(1234567)).toBe("1.23M");
    expect(percent(0.1234)).toBe("12.3%");
    expect(ms(850)).toBe("850 ms");
    expect(ms(2233)).toBe("2.23 s");
    expect(ms(31000)).toBe("31.0 s");
    expect(ms(null)).toBe("—");
    expect(relativeChange(110, 100)).toEqual({ text: "+10.0%", direction: "up" });
    expect(relativeChange(5, 0)).toEqual({ text: "new", direction: "new" });
    expect(relativeChange(0, 0)).toEqual({ text: "no change", direction: "flat" });
    expect(pointChange(0.05, 0.1)).toEqual({ text: "−5.0 pts", direction: "down" });
  });
});

describe("access and catalogue vocabulary", () => {
  it("gives an admin every scope and a key without scopes every scope but admin", () => {
    expect(scopesFor("admin", [])).toEqual([...SCOPES]);
    expect(scopesFor("user", [])).toEqual([...USER_SCOPES]);
    expect(USER_SCOPES).not.toContain("admin");
    expect(scopesFor("user", ["generate", "admin", "bogus"])).toEqual(["generate"]);
  });

  it("offers a user the tiers up to their own, an admin every tier", () => {
    expect(tiersFor("user", "basic")).toEqual(["basic"]);
    expect(tiersFor("user", "standard")).toEqual(["basic", "standard"]);
    expect(tiersFor("user", "premium")).toEqual(["basic", "standard", "premium"]);
    expect(tiersFor("admin", "basic")).toEqual(["basic", "standard", "premium"]);
  });

  it("names providers and default capabilities", () => {
    expect(providerName("openai")).toBe("OpenAI");
    expect(providerName("my-vllm")).toBe("my-vllm");
    expect(defaultCapability("embedding")).toBe("embeddings");
    expect(defaultCapability("chat")).toBe("text-generation");
  });
});
