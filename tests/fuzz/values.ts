// The values a fuzz case puts where an input belongs: the ones that broke the service before
// (issue #15) and randomly built ones of the same families.
import type { Random } from "./random.ts";

/** JSON nested `depth` deep: arrays, objects, or filters inside filters. */
export function nested(depth: number, kind: "array" | "object" | "filter" = "array"): unknown {
  let v: unknown = kind === "filter" ? { key: "k", match: { value: 1 } } : 1;
  for (let i = 0; i < depth; i++) v = kind === "array" ? [v] : kind === "object" ? { a: v } : { must: [v] };
  return v;
}

/** Strings that PostgreSQL, a URL or a date parser may choke on. */
export const NASTY_STRINGS: readonly string[] = [
  "\u0000",
  "a\u0000b",
  "\ud800",
  "x\udfffy",
  "\ud83d\ude00",
  "",
  " ",
  "%",
  "%zz",
  "%00",
  "../../etc/passwd",
  "0000-01-01",
  "9999-12-31",
  "275760-09-13",
  "+275760-09-13T00:00:00.000Z",
  "-000001-01-01",
  "2026-02-30",
  "1",
  "-1",
  "NaN",
  "Infinity",
  "null",
  "true",
  "__proto__",
  "constructor",
  "' OR 1=1 --",
  "$1",
  "\\",
  "\u202e\u200b\ufeff",
  "[[emulator-not-a-directive]]",
  "a".repeat(300),
  "x".repeat(70_000),
];

/** Numbers at and past the edges of int32, int64, float32, float64 and safe integers. */
export const NASTY_NUMBERS: readonly number[] = [
  0,
  -0,
  -1,
  1.5,
  -1.5,
  2 ** 31,
  -(2 ** 31) - 1,
  2 ** 53,
  2 ** 63,
  -(2 ** 63),
  1e39,
  -1e39,
  3.4028236e38,
  1e308,
  -1e308,
  5e-324,
  1e-45,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2,
];

/** Values of every other JSON type, and structures deeper than any code should recurse. */
export const NASTY_STRUCTURES: readonly unknown[] = [
  null,
  true,
  false,
  [],
  {},
  [null],
  { "\u0000": 1 },
  { "a\ud800": "x" },
  { __proto__: { polluted: true } },
  JSON.parse('{"__proto__": {"polluted": true}}'),
  { constructor: { prototype: { polluted: true } } },
  nested(70),
  nested(5_000),
  nested(5_000, "object"),
  nested(2_000, "filter"),
];

const ALPHABET = [
  "a",
  "Z",
  "0",
  " ",
  "-",
  "_",
  ".",
  "/",
  "%",
  "\u0000",
  "\ud800",
  "\udc00",
  "\ud83d\ude00",
  "é",
  "\n",
  '"',
  "'",
  "\\",
  "{",
  "}",
  "\u2028",
];

/** A random string of up to 40 characters drawn mostly from troublesome ones. */
export function randomString(r: Random): string {
  let s = "";
  const n = r.int(0, 40);
  for (let i = 0; i < n; i++) s += r.chance(0.6) ? r.pick(ALPHABET) : String.fromCharCode(r.int(0, 0xffff));
  return s;
}

/** A nasty value of any family. */
export function nastyValue(r: Random): unknown {
  const family = r.int(0, 4);
  if (family === 0) return r.pick(NASTY_STRINGS);
  if (family === 1) return r.pick(NASTY_NUMBERS);
  if (family === 2) return r.pick(NASTY_STRUCTURES);
  if (family === 3) return randomString(r);
  return r.chance(0.5) ? r.int(-1e9, 1e9) : (r.next() - 0.5) * 10 ** r.int(0, 40);
}
