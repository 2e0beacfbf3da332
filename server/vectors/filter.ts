// Payload filters: the part of Qdrant's filter language both backends implement, validated with
// zod, and compiled to SQL for pgvector. Qdrant gets the same JSON unchanged.
//
//   { "must":     [ {"key": "lang", "match": {"value": "en"}} ],
//     "should":   [ {"key": "tags", "match": {"any": ["news", "blog"]}} ],
//     "must_not": [ {"key": "year", "range": {"lt": 2020}} ] }
//
// Semantics (Qdrant's): `must` — every condition holds; `should` — at least one holds (when any are
// given); `must_not` — none holds. A condition is a field condition or a nested filter. `key` is a
// payload path: "city", "address.city", and "items[].price" to look inside each element of an array
// of objects (without "[]", a key does not reach into an array, as in Qdrant). When the value at the
// key is an array, a condition holds if it holds for any element. `match.value` is a string,
// integer or boolean compared for equality; `match.any` a list of strings or of integers; `range`
// compares numbers (gt, gte, lt, lte), all bounds against the same element. A missing key matches
// nothing, so `must_not` on it holds.
import { z } from "zod";
import { inputProblem, safeString } from "../kernel/validation.ts";

export type MatchValue = string | number | boolean;
export type Range = { gt?: number; gte?: number; lt?: number; lte?: number };
export type FieldCondition =
  | { key: string; match: { value: MatchValue }; range?: undefined }
  | { key: string; match: { any: string[] | number[] }; range?: undefined }
  | { key: string; range: Range; match?: undefined };
export type Condition = FieldCondition | Filter;
export type Filter = { must?: Condition[]; should?: Condition[]; must_not?: Condition[] };

/** Deepest nesting of filters inside filters, and most conditions in one filter tree. */
export const MAX_FILTER_DEPTH = 8;
export const MAX_FILTER_CONDITIONS = 256;
export const MAX_MATCH_ANY = 1_000;

const KEY_PATTERN = /^[^.[\]]+(\[\])?(\.[^.[\]]+(\[\])?)*$/;
/** Kept inside Qdrant payloads for string ids (types.ts RESERVED_PAYLOAD_KEY): no filter may name it. */
const RESERVED_KEY = "_ms_point_id";

const keySchema = safeString
  .min(1, { error: "a payload key such as `city` or `address.city`" })
  .max(256)
  .regex(KEY_PATTERN, { error: "a payload key such as `city` or `address.city`" })
  // Qdrant's key paths can quote a segment with any character but these two (json_path/parse.rs).
  .refine((k) => !/["\\]/.test(k), { error: 'a payload key cannot contain `"` or `\\`' })
  .refine((k) => keyPath(k)[0]!.key !== RESERVED_KEY, { error: `the payload key ${RESERVED_KEY} is reserved` });

const matchSchema = z.union(
  [
    z.strictObject({ value: z.union([safeString, z.number().int(), z.boolean()]) }),
    z.strictObject({
      any: z.union([z.array(safeString).min(1).max(MAX_MATCH_ANY), z.array(z.number().int()).min(1).max(MAX_MATCH_ANY)]),
    }),
  ],
  { error: "either {value: string | integer | boolean} or {any: [strings] | [integers]}" },
);

const rangeSchema = z
  .strictObject({ gt: z.number().optional(), gte: z.number().optional(), lt: z.number().optional(), lte: z.number().optional() })
  .refine((r) => r.gt !== undefined || r.gte !== undefined || r.lt !== undefined || r.lte !== undefined, {
    error: "give at least one of gt, gte, lt, lte",
  });

const fieldConditionSchema = z
  .strictObject({ key: keySchema, match: matchSchema.optional(), range: rangeSchema.optional() })
  .refine((c) => (c.match === undefined) !== (c.range === undefined), { error: "give exactly one of match or range" });

// A condition with a `key` is a field condition, anything else a nested filter: choosing the schema
// up front keeps zod's messages about the one that was meant (a union would only say "invalid").
const conditionSchema: z.ZodType<Condition> = z.lazy(() =>
  z.unknown().transform((value, ctx) => {
    const isField = value !== null && typeof value === "object" && !Array.isArray(value) && "key" in value;
    const result = (isField ? fieldConditionSchema : filterSchema).safeParse(value);
    if (result.success) return result.data as Condition;
    for (const issue of result.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path as PropertyKey[] });
    return z.NEVER;
  }),
);

// Qdrant accepts one condition where a list is expected; so do we.
const conditionList = z.preprocess(
  (v) => (v === undefined || v === null || Array.isArray(v) ? (v ?? undefined) : [v]),
  z.array(conditionSchema).max(MAX_FILTER_CONDITIONS).optional(),
);

const filterSchema: z.ZodType<Filter> = z.lazy(() =>
  z.strictObject({ must: conditionList, should: conditionList, must_not: conditionList }),
);

/**
 * JSON nesting a filter of MAX_FILTER_DEPTH needs, with room to spare so that a filter a little
 * too deep still gets the message below; anything deeper is refused before the recursive schema
 * (and then measure()) walks it, so no filter can overflow the stack.
 */
const MAX_FILTER_JSON_DEPTH = 4 * MAX_FILTER_DEPTH;

/** The payload filter as given by callers (REST and tRPC), with depth and size limits. */
export const payloadFilterSchema = z
  .unknown()
  .superRefine((value, ctx) => {
    const problem = inputProblem(value, MAX_FILTER_JSON_DEPTH);
    if (problem?.kind === "depth") ctx.addIssue({ code: "custom", message: `filters nest at most ${MAX_FILTER_DEPTH} deep` });
    else if (problem) ctx.addIssue({ code: "custom", message: `${problem.field}: ${problem.message}` });
  })
  .pipe(filterSchema)
  .superRefine((filter, ctx) => {
    const { depth, conditions } = measure(filter);
    if (depth > MAX_FILTER_DEPTH) ctx.addIssue({ code: "custom", message: `filters nest at most ${MAX_FILTER_DEPTH} deep` });
    if (conditions > MAX_FILTER_CONDITIONS)
      ctx.addIssue({ code: "custom", message: `at most ${MAX_FILTER_CONDITIONS} conditions in one filter` });
  });

function measure(filter: Filter, depth = 1): { depth: number; conditions: number } {
  let maxDepth = depth;
  let conditions = 0;
  for (const list of [filter.must, filter.should, filter.must_not]) {
    for (const c of list ?? []) {
      conditions++;
      if (isFieldCondition(c)) continue;
      const inner = measure(c, depth + 1);
      maxDepth = Math.max(maxDepth, inner.depth);
      conditions += inner.conditions;
    }
  }
  return { depth: maxDepth, conditions };
}

export function isFieldCondition(c: Condition): c is FieldCondition {
  return "key" in c && typeof (c as FieldCondition).key === "string";
}

export type KeySegment = { key: string; eachElement: boolean };

/**
 * A validated key as Qdrant's JSON path parser reads it: a segment of letters, digits, `_` and `-`
 * as it is, any other in double quotes ("zip code" → `address."zip code"`), so that Qdrant filters
 * on the same payload field pgvector does (it refuses an unquoted space or `:` as an invalid path).
 */
export function qdrantKey(key: string): string {
  return keyPath(key)
    .map((s) => (/^[\p{L}\p{N}_-]+$/u.test(s.key) ? s.key : `"${s.key}"`) + (s.eachElement ? "[]" : ""))
    .join(".");
}

/** The filter with every key in Qdrant's path syntax (qdrantKey); the rest unchanged. */
export function toQdrantFilter(filter: Filter): Filter {
  const list = (conditions?: Condition[]) =>
    conditions?.map((c): Condition => (isFieldCondition(c) ? ({ ...c, key: qdrantKey(c.key) } as FieldCondition) : toQdrantFilter(c)));
  const out: Filter = {};
  if (filter.must) out.must = list(filter.must);
  if (filter.should) out.should = list(filter.should);
  if (filter.must_not) out.must_not = list(filter.must_not);
  return out;
}

/** The segments of a key path: "a.b[].c" → a, b (each element), c. */
export function keyPath(key: string): KeySegment[] {
  return key.split(".").map((s) => (s.endsWith("[]") ? { key: s.slice(0, -2), eachElement: true } : { key: s, eachElement: false }));
}

// ---------------------------------------------------------------------------------------------
// SQL for pgvector. A field condition becomes `jsonb_path_exists(payload, <path>, <vars>, true)`
// twice — once on the value at the key, once on each element of it when it is an array — with the
// jsonpath text and the values as bound parameters: neither a key nor a value is ever part of the
// SQL text. Strict mode makes a key that meets an array (without "[]") find nothing, as Qdrant
// does; `silent` turns that structural error into "no match". Comparing a number with a string is
// "unknown" in jsonpath, which is no match as well.

export type SqlFragment = { sql: string; params: unknown[] };

/**
 * `filter` as a boolean SQL expression over the jsonb column `column`; `firstParam` is the number
 * of the first $n placeholder it may use.
 */
export function filterToSql(filter: Filter | undefined, column: string, firstParam: number): SqlFragment {
  const params: unknown[] = [];
  const next = (value: unknown) => {
    params.push(value);
    return `$${firstParam + params.length - 1}`;
  };

  const compileCondition = (c: Condition): string => {
    if (!isFieldCondition(c)) return compileFilter(c);
    const path = `strict $${keyPath(c.key)
      .map((s) => `.${JSON.stringify(s.key)}${s.eachElement ? "[*]" : ""}`)
      .join("")}`;
    const vars: Record<string, unknown> = {};
    let predicate: string;
    if (c.match && "value" in c.match) {
      vars.v = c.match.value;
      predicate = "@ == $v";
    } else if (c.match) {
      c.match.any.forEach((v, i) => (vars[`v${i}`] = v));
      predicate = c.match.any.map((_, i) => `@ == $v${i}`).join(" || ");
    } else {
      const r = c.range!;
      const parts: string[] = [];
      for (const [op, sym] of [
        ["gt", ">"],
        ["gte", ">="],
        ["lt", "<"],
        ["lte", "<="],
      ] as const) {
        if (r[op] !== undefined) {
          vars[op] = r[op];
          parts.push(`@ ${sym} $${op}`);
        }
      }
      predicate = parts.join(" && ");
    }
    const value = next(`${path} ? (${predicate})`);
    const elements = next(`${path}[*] ? (${predicate})`);
    const v = next(JSON.stringify(vars));
    // `silent` answers NULL where strict mode finds no such key; COALESCE makes that a plain "no".
    return `COALESCE(jsonb_path_exists(${column}, ${value}::jsonpath, ${v}::jsonb, true) OR jsonb_path_exists(${column}, ${elements}::jsonpath, ${v}::jsonb, true), false)`;
  };

  const compileFilter = (f: Filter): string => {
    const parts: string[] = [];
    if (f.must?.length) parts.push(...f.must.map(compileCondition));
    if (f.should?.length) parts.push(`(${f.should.map(compileCondition).join(" OR ")})`);
    if (f.must_not?.length) parts.push(`NOT (${f.must_not.map(compileCondition).join(" OR ")})`);
    return parts.length ? `(${parts.join(" AND ")})` : "TRUE";
  };

  return { sql: filter ? compileFilter(filter) : "TRUE", params };
}
