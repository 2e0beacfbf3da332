// What every edge checks before a caller's input goes further (the REST wrapper, tRPC, the
// dashboard's form actions, JWT claims): text that PostgreSQL can store, JSON nested no deeper than
// code can walk, numbers that fit the type they end up in, and dates both PostgreSQL and JS handle.
//
// - Text: PostgreSQL refuses a NUL character anywhere (text, jsonb), and jsonb refuses a lone UTF-16
//   surrogate (`"\ud800"`, which JSON.parse accepts); either made a 500 at the first query.
//   `safeString` is the zod string for every input field that may reach the database; the
//   wrappers also walk each JSON input (`inputProblem`) for the same two characters in any string
//   or object key, so a payload's nested keys are covered as well.
// - Depth: JSON.parse is iterative, but JSON.stringify, superjson, zod's recursive schemas and the
//   filter compiler are not; 5,000 nested arrays overflow the stack. `inputProblem` measures depth
//   with an explicit stack, before anything recursive sees the value.
// - Numbers: pgvector and Qdrant keep float32, so a vector value beyond ±3.4e38 is refused here.
// - Dates: years 1970 to 9999 (PostgreSQL's timestamps and JS Dates both hold them; year 0 and
//   year 275760, which Date.parse accepts, made PostgreSQL fail), written as ISO 8601, never
//   whatever Date.parse happens to read ("1", "March 7").
import { z } from "zod";

/** A NUL, or a UTF-16 surrogate that is not half of a pair (with the `u` flag, \p{Cs} matches only those). */
const UNSTORABLE = /[\u0000\p{Cs}]/u;

/** Why `s` cannot be stored as text, or undefined when it can. */
export function textProblem(s: string): string | undefined {
  if (!UNSTORABLE.test(s)) return undefined;
  return s.includes("\u0000")
    ? "must not contain a NUL character (\\u0000)"
    : "must not contain a lone UTF-16 surrogate (\\ud800-\\udfff without its pair)";
}

/** The zod string for input that may reach PostgreSQL: refuses NUL and lone surrogates, naming the field. */
export const safeString = z.string().check((ctx) => {
  const problem = textProblem(ctx.value);
  if (problem) ctx.issues.push({ code: "custom", message: problem, input: ctx.value });
});

/** Deepest nesting of arrays and objects accepted in one input (filters, payloads, tool schemas need far less). */
export const MAX_INPUT_DEPTH = 64;

/** What is wrong where; `depth` for nesting, `text` for a string or key that cannot be stored. */
export type InputProblem = { field: string; message: string; kind: "depth" | "text" };

/**
 * The first thing in a parsed JSON input that no later step should meet: nesting deeper than
 * `maxDepth`, or a string or object key that cannot be stored. Walks with its own stack (it
 * cannot overflow); `where` prefixes the field path, as zod's issues name fields.
 */
export function inputProblem(value: unknown, maxDepth = MAX_INPUT_DEPTH): InputProblem | undefined {
  if (typeof value === "string") {
    const problem = textProblem(value);
    return problem ? { field: "(root)", message: problem, kind: "text" } : undefined;
  }
  if (value === null || typeof value !== "object") return undefined;
  const stack: { node: object; path: (string | number)[] }[] = [{ node: value, path: [] }];
  // One step per child: a leaf (number, string) is checked in place, an array or object waits on the stack.
  const visit = (child: unknown, path: (string | number)[], key: string | number): InputProblem | undefined => {
    if (typeof child === "string") {
      const problem = textProblem(child);
      return problem ? { field: fieldOf([...path, key]), message: problem, kind: "text" } : undefined;
    }
    if (child !== null && typeof child === "object") stack.push({ node: child, path: [...path, key] });
    return undefined;
  };
  while (stack.length) {
    const { node, path } = stack.pop()!;
    if (path.length >= maxDepth) return { field: fieldOf(path), message: `nests deeper than ${maxDepth} levels`, kind: "depth" };
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const child: unknown = node[i];
        // Most long arrays are vectors: numbers need no look.
        if (typeof child === "number") continue;
        const problem = visit(child, path, i);
        if (problem) return problem;
      }
      continue;
    }
    for (const key of Object.keys(node)) {
      const keyProblem = textProblem(key);
      if (keyProblem) return { field: fieldOf(path), message: `a key ${keyProblem}`, kind: "text" };
      const problem = visit((node as Record<string, unknown>)[key], path, key);
      if (problem) return problem;
    }
  }
  return undefined;
}

/** A path as errors.ts writes zod's: `points[0].payload.city` (the first few steps of a very deep one). */
function fieldOf(path: (string | number)[]): string {
  let out = "";
  for (const p of path.slice(0, 8)) out += typeof p === "number" ? `[${p}]` : out ? `.${p}` : p;
  return (out || "(root)") + (path.length > 8 ? "…" : "");
}

/** The largest finite float32; pgvector and Qdrant store vector values as float32. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** A vector value: a finite number that fits a float32. */
export const float32 = z
  .number({ error: "numbers only" })
  .refine((x) => Math.abs(x) <= FLOAT32_MAX, { error: `a number from -${FLOAT32_MAX} to ${FLOAT32_MAX} (float32)` });

/** The earliest and latest moments an input date may name. */
export const MIN_DATE = Date.UTC(1970, 0, 1);
export const MAX_DATE = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const DATE_RANGE = "from 1970-01-01 to 9999-12-31";

/** Whether an instant (epoch ms) lies in the accepted range. */
export function inDateRange(ms: number): boolean {
  return Number.isFinite(ms) && ms >= MIN_DATE && ms <= MAX_DATE;
}

const CALENDAR_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** The last calendar day accepted, one before MAX_DATE's: the day after a range must still be a four-digit year. */
const LAST_DAY = "9999-12-30";

/** A calendar day `YYYY-MM-DD` that exists, from 1970-01-01 to 9999-12-30. */
export const calendarDate = z
  .string({ error: "use a date as YYYY-MM-DD" })
  .regex(CALENDAR_DATE, { error: "use a date as YYYY-MM-DD" })
  .refine(
    (s) => {
      const ms = Date.parse(`${s}T00:00:00Z`);
      return Number.isFinite(ms) && new Date(ms).toISOString().startsWith(s);
    },
    { error: "not a calendar date" },
  )
  .refine((s) => s >= "1970-01-01" && s <= LAST_DAY, { error: `a date from 1970-01-01 to ${LAST_DAY}` });

/** ISO 8601 as Date#toISOString writes it, or with seconds or a zone offset: `2026-03-07T12:00:00Z`. */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** Parses an ISO 8601 instant in the accepted range; undefined for anything else (no Date.parse leniency). */
export function parseInstant(text: string): Date | undefined {
  if (!ISO_INSTANT.test(text)) return undefined;
  const ms = Date.parse(text);
  return inDateRange(ms) ? new Date(ms) : undefined;
}

/** An input date: a Date (tRPC's superjson) or an ISO 8601 string, from 1970 to 9999. */
export const boundedDate = z
  .union([z.date({ error: "a date" }), z.string()], { error: `an ISO 8601 date ${DATE_RANGE}` })
  .transform((value, ctx) => {
    const date = typeof value === "string" ? parseInstant(value) : inDateRange(value.getTime()) ? value : undefined;
    if (date) return date;
    ctx.addIssue({ code: "custom", message: `an ISO 8601 date ${DATE_RANGE}, such as 2027-01-31T00:00:00Z` });
    return z.NEVER;
  });
