// The usage dashboard's view in its URL (#20 item 3): a link opens the same range, zone, filters and
// status; what cannot be read falls back to the default; an invalid custom range is named, not queried.
import { describe, expect, it } from "vitest";
import { defaultRange } from "@/lib/dates";
import { rangeProblem, viewFromParams, viewRange, viewToParams } from "./usage-view";

describe("the usage view in the URL", () => {
  it("is the last 30 days in UTC with no filter when the URL says nothing, and writes nothing for it", () => {
    const view = viewFromParams(new URLSearchParams(""));
    expect(view).toMatchObject({ preset: "30", tz: "UTC", filters: {}, status: "" });
    expect(viewToParams(view).toString()).toBe("");
    expect(viewRange(view)).toEqual(defaultRange("UTC", 30));
  });

  it("round-trips a custom range, a zone, filters and a status", () => {
    const query = "from=2026-11-01&to=2026-11-30&tz=Europe%2FBerlin&model=gpt-4o-mini&apiKeyId=k1&tag=beta&status=error";
    const view = viewFromParams(new URLSearchParams(query));
    expect(view).toEqual({
      preset: "custom",
      custom: { start: "2026-11-01", end: "2026-11-30" },
      tz: "Europe/Berlin",
      filters: { model: "gpt-4o-mini", apiKeyId: "k1", tag: "beta" },
      status: "error",
    });
    expect(viewToParams(view).toString()).toBe(query);
    expect(viewRange(view)).toEqual({ start: "2026-11-01", end: "2026-11-30", tz: "Europe/Berlin" });
  });

  it("reads a preset, and a server render's params object", () => {
    expect(viewFromParams({ range: "7", status: ["cached"] })).toMatchObject({ preset: "7", status: "cached" });
    expect(viewToParams(viewFromParams({ range: "90" })).toString()).toBe("range=90");
  });

  it("ignores what it cannot read: an unknown zone, preset or status", () => {
    expect(viewFromParams(new URLSearchParams("tz=Mars%2FOlympus&range=12&status=weird"))).toMatchObject({
      preset: "30",
      tz: "UTC",
      status: "",
    });
  });

  it("names what is wrong with an invalid custom range, and gives no range to query", () => {
    const inverted = viewFromParams(new URLSearchParams("from=2026-11-30&to=2026-11-01"));
    expect(rangeProblem(inverted.custom)).toMatch(/“From” \(2026-11-30\) is after “To” \(2026-11-01\)/);
    expect(viewRange(inverted)).toBeNull();
    expect(rangeProblem({ start: "2026-02-30", end: "2026-03-01" })).toMatch(/not a date: 2026-02-30/);
    expect(rangeProblem({ start: "2020-01-01", end: "2026-01-01" })).toMatch(/at most 731/);
    expect(rangeProblem({ start: "2026-11-01", end: "2026-11-01" })).toBeNull();
  });
});
