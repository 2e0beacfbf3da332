import { describe, expect, it } from "vitest";
import { z } from "zod";
import { fromZodError } from "./errors.ts";
import { boundedDate, calendarDate, float32, inputProblem, parseInstant, safeString } from "./validation.ts";

describe("safeString", () => {
  const schema = z.object({ points: z.array(z.object({ id: safeString.min(1) })) });
  const messageFor = (id: string) => {
    const r = schema.safeParse({ points: [{ id }] });
    return r.success ? undefined : fromZodError(r.error, "request body").message;
  };

  it("refuses NUL and lone surrogates, naming the field", () => {
    expect(messageFor("a\u0000b")).toBe("Invalid request body: points[0].id: must not contain a NUL character (\\u0000)");
    expect(messageFor("\ud800")).toMatch(/^Invalid request body: points\[0\]\.id: must not contain a lone UTF-16 surrogate/);
    expect(messageFor("x\udc00")).toMatch(/lone UTF-16 surrogate/);
  });

  it("accepts any other text, surrogate pairs included, and keeps the string's own checks", () => {
    expect(messageFor("héllo 😀 \n \u202e")).toBeUndefined();
    expect(messageFor("")).toMatch(/points\[0\]\.id/);
  });
});

describe("inputProblem", () => {
  it("finds unstorable text in any string or object key, with its path", () => {
    expect(inputProblem({ a: [{ b: "ok" }, { c: "x\u0000" }] })).toEqual({
      field: "a[1].c",
      message: "must not contain a NUL character (\\u0000)",
      kind: "text",
    });
    expect(inputProblem({ payload: { "k\ud800": 1 } })).toMatchObject({ field: "payload", kind: "text" });
    expect(inputProblem("\u0000")).toMatchObject({ field: "(root)" });
    expect(inputProblem({ vector: [0.1, 2, 1e308], ok: "😀", n: null })).toBeUndefined();
  });

  it("measures depth without recursion: 100,000 levels is an answer, not a stack overflow", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    const problem = inputProblem({ filter: deep });
    expect(problem).toMatchObject({ kind: "depth", message: "nests deeper than 64 levels" });
    expect(problem!.field).toMatch(/^filter\.a\.a.*…$/);
    // 64 arrays inside each other are fine; a 65th is not.
    let ok: unknown = 1;
    for (let i = 0; i < 64; i++) ok = [ok];
    expect(inputProblem(ok)).toBeUndefined();
    expect(inputProblem([ok])).toMatchObject({ kind: "depth" });
  });
});

describe("numbers and dates", () => {
  it("float32: finite values a float32 holds", () => {
    expect(float32.safeParse(3.4e38).success).toBe(true);
    expect(float32.safeParse(-1e39).success).toBe(false);
    expect(float32.safeParse(Infinity).success).toBe(false);
  });

  it("calendarDate: days that exist, 1970-01-01 to 9999-12-30", () => {
    expect(calendarDate.safeParse("2026-02-28").success).toBe(true);
    expect(calendarDate.safeParse("2026-02-29").error?.issues[0]?.message).toBe("not a calendar date");
    expect(calendarDate.safeParse("0000-01-01").error?.issues[0]?.message).toBe("a date from 1970-01-01 to 9999-12-30");
    expect(calendarDate.safeParse("9999-12-31").success).toBe(false);
    expect(calendarDate.safeParse("1").success).toBe(false);
  });

  it("instants: ISO 8601 only (not what Date.parse reads), from 1970 to 9999", () => {
    expect(parseInstant("2026-03-07T12:00:00.000Z")?.toISOString()).toBe("2026-03-07T12:00:00.000Z");
    expect(parseInstant("2026-03-07T12:00:00+01:00")?.toISOString()).toBe("2026-03-07T11:00:00.000Z");
    for (const lenient of ["1", "March 7, 2026", "275760-09-13", "+275760-09-13T00:00:00.000Z", "0000-01-01T00:00:00Z"]) {
      expect(parseInstant(lenient), lenient).toBeUndefined();
    }
    expect(boundedDate.safeParse(new Date("2030-01-01")).success).toBe(true);
    expect(boundedDate.safeParse(new Date(8.64e15)).success).toBe(false);
    expect(boundedDate.safeParse(new Date(Number.NaN)).success).toBe(false);
  });
});
