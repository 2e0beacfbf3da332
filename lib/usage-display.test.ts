// The usage dashboard's display rules (#20 item 3): small costs keep enough digits to be read,
// counts agree with their noun, and a chart's date axis is labelled at even steps.
import { describe, expect, it } from "vitest";
import { eachDay, evenDayTicks } from "./dates.ts";
import { counted } from "./format.ts";
import { money } from "./money.ts";

describe("money for small amounts", () => {
  it("shows two significant digits of an amount below a cent, never $0.00 for a non-zero one", () => {
    expect(money("0.00000004")).toBe("$0.00000004");
    expect(money("0.000000041234")).toBe("$0.000000041");
    expect(money("0.000001")).toBe("$0.000001");
    expect(money(-0.0000000025)).toBe("-$0.0000000025");
    expect(money("0.000000000001")).toBe("$0.000000000001");
  });

  it("keeps the existing rounding from a cent up", () => {
    expect(money("0.0123")).toBe("$0.0123");
    expect(money(0.0000834)).toBe("$0.000083");
    expect(money("1234.567")).toBe("$1,234.57");
    expect(money("0")).toBe("$0.00");
  });
});

describe("counted", () => {
  it("puts a count with its noun in the singular or the plural", () => {
    expect(counted(1, "request")).toBe("1 request");
    expect(counted(0, "request")).toBe("0 requests");
    expect(counted(1234, "request")).toBe("1,234 requests");
    expect(counted(1, "provider call")).toBe("1 provider call");
    expect(counted(2, "entry", "entries")).toBe("2 entries");
  });
});

describe("evenDayTicks", () => {
  it("labels every day of a short range", () => {
    const days = eachDay("2026-11-01", "2026-11-07");
    expect(evenDayTicks(days)).toEqual(days);
  });

  it("labels a long range at one even step, ending on its last day", () => {
    const days = eachDay("2026-09-06", "2026-12-04");
    const ticks = evenDayTicks(days);
    expect(ticks.length).toBeLessThanOrEqual(8);
    expect(ticks.length).toBeGreaterThanOrEqual(5);
    expect(ticks.at(-1)).toBe("2026-12-04");
    const steps = ticks.slice(1).map((d, i) => days.indexOf(d) - days.indexOf(ticks[i]!));
    expect(new Set(steps).size).toBe(1);
    expect([1, 2, 3, 7, 14, 28]).toContain(steps[0]);
  });

  it("gives a 30-day range weekly ticks", () => {
    const days = eachDay("2026-11-05", "2026-12-04");
    expect(evenDayTicks(days)).toEqual(["2026-11-06", "2026-11-13", "2026-11-20", "2026-11-27", "2026-12-04"]);
  });

  it("handles no days and one day", () => {
    expect(evenDayTicks([])).toEqual([]);
    expect(evenDayTicks(["2026-12-04"])).toEqual(["2026-12-04"]);
  });
});
