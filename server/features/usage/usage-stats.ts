import "server-only";
// Usage statistics for a date range, read from the roll-ups only (usage-rollups.ts), never from
// the raw events: totals, a series per day, cost per day and model, breakdowns by model, provider,
// API key, user, endpoint and status, the error rate and latency percentiles, and optionally the
// totals of the range before (for "change against the previous range").
//
// Which roll-up answers:
//   - days in UTC (or a zone at UTC's offset over the range) read the daily tables; in other zones
//     a local day is its UTC days plus or minus the hours at its edges from the hourly tables
//     (time-zones.ts planLocalDays), exact in any zone whose offset is a whole number of hours;
//   - everyone's usage with no filter reads the *_dims tables (a few rows per day, whatever the
//     number of keys and models); a caller's own usage, or any filter, reads usage_daily/hourly,
//     where the filter picks the rows.
// A caller sees their own usage (their user's, or their key's when the key has no user); a team's
// members (any role: server/access/teams.ts) see the team's usage with the team filter; an admin
// sees anyone's, filtered or not.
import { z } from "zod";
import { USAGE_KIND_FILTERS, USAGE_STATUSES } from "../../../lib/usage.ts";
import { calendarDate, safeString } from "../../kernel/validation.ts";
import { getDatabase } from "../../db/index.ts";
import { AppError } from "../../kernel/errors.ts";
import { ownershipOf, type AuthenticatedIdentity } from "../../access/auth.ts";
import { getApiKeyById } from "../../access/key-lookup.ts";
import { requireTeamAbility } from "../../access/teams.ts";
import { addHistograms, decodeHistogram, LATENCY_BUCKETS, percentiles, type Percentiles } from "./latency-histogram.ts";
import { catalogueReady, resolveModel } from "../catalogue/index.ts";
import { parseUsd, type Pico } from "../catalogue/index.ts";
import { addDays, canonicalTimeZone, daysBetween, localDayPlan, todayIn } from "./time-zones.ts";
import type { UsageKind } from "./usage-rollups.ts";
import { attributionIdSchema, tagSchema } from "./attribution.ts";

/** The longest range one query may cover. */
export const MAX_RANGE_DAYS = 731;
export { USAGE_STATUSES } from "../../../lib/usage.ts";

/** A calendar day, YYYY-MM-DD, from 1970 on (server/kernel/validation.ts). */
export const isoDate = calendarDate;

/** What to count. Dates are calendar days in `tz`, both included; by default the last 30 days. */
export const statsQuerySchema = z.object({
  start: isoDate.optional(),
  end: isoDate.optional(),
  /** IANA time zone for day boundaries; UTC by default. */
  tz: safeString.max(64).optional(),
  /** llm: text generation; embedding: embeddings (whichever endpoint paid for them: vector documents and text searches too). */
  kind: z.enum(USAGE_KIND_FILTERS).optional(),
  userId: safeString.min(1).max(200).optional(),
  apiKeyId: safeString.min(1).max(200).optional(),
  model: safeString.min(1).max(200).optional(),
  provider: safeString.min(1).max(100).optional(),
  endpoint: safeString.min(1).max(200).optional(),
  status: z.enum(USAGE_STATUSES).optional(),
  /** Calls that carry this tag (among others: a call with several tags matches each). */
  tag: tagSchema.optional(),
  /** Calls made for this end user of the calling app (attribution.ts). */
  endUser: attributionIdSchema.min(1).optional(),
  /** Calls made with this team's keys; its members may read them, whatever their role. */
  teamId: safeString.min(1).max(200).optional(),
  /** Also compute the totals of the equally long range just before. */
  compare: z.boolean().optional(),
});
export type StatsQuery = z.infer<typeof statsQuerySchema>;

// The REST spelling of the same filters (GET /v1/llm/usage, /v1/llm/embedding-usage,
// /v1/llm/savings): the original service's callers send snake_case, and two names differ more.
const REST_RENAMED: Record<string, string> = { start: "start_date", end: "end_date" };
/** Not REST query parameters: REST has no comparison, and (so far) no endpoint filter. */
const NOT_ON_REST = ["compare", "endpoint"] as const;
type NotOnRest = (typeof NOT_ON_REST)[number];

/** A camelCase name as the REST API spells it: `apiKeyId` is `api_key_id`. */
export const snakeCase = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A filter's REST query name: `apiKeyId` is `api_key_id`, `start` is `start_date`. */
export function restQueryName(field: string): string {
  return REST_RENAMED[field] ?? snakeCase(field);
}

/**
 * A query schema made from statsQuerySchema (or one extended from it) as REST spells it: each field
 * under its REST name with the same validation (so an error names the REST field), read back into
 * the service's names. A new filter in statsQuerySchema is a REST query parameter with no more code.
 */
export function restQuery<T extends z.ZodObject>(schema: T): z.ZodType<Omit<z.output<T>, NotOnRest>> {
  const shape: Record<string, z.ZodType> = {};
  const names: [rest: string, field: string][] = [];
  for (const [field, fieldSchema] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    if ((NOT_ON_REST as readonly string[]).includes(field)) continue;
    const rest = restQueryName(field);
    shape[rest] = fieldSchema;
    names.push([rest, field]);
  }
  return z.object(shape).transform((q) => {
    const out: Record<string, unknown> = {};
    for (const [rest, field] of names) if (q[rest] !== undefined) out[field] = q[rest];
    return out as Omit<z.output<T>, NotOnRest>;
  });
}

export type Measures = {
  requests: number;
  errors: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  reasoningTokens: number;
  cost: Pico;
  latencyMsSum: number;
};

export type Totals = Measures & {
  totalTokens: number;
  /** errors / requests, 0 without requests. */
  errorRate: number;
  avgLatencyMs: number | null;
  /** From the latency histogram: within 9.1 % of the true percentile (latency-histogram.ts). */
  latency: Percentiles;
};

export type DayStats = Totals & { date: string };
export type DayModelStats = Measures & { date: string; model: string; totalTokens: number };
export type BreakdownRow = Measures & { value: string; label: string; totalTokens: number; avgLatencyMs: number | null };
/**
 * The breakdowns of the statistics, in the order the dashboard and the REST answer list them.
 * `deployment` (features/routing: which deployment answered) lists the calls a deployment served
 * (not cache hits or embeddings). `tag` and `endUser` (attribution.ts) list the calls that carry a
 * tag or name an end user; a call with several tags counts once under each, so the tag rows may add
 * up to more than the totals.
 */
export const BREAKDOWN_DIMENSIONS = [
  "model",
  "provider",
  "apiKey",
  "user",
  "endpoint",
  "status",
  "deployment",
  "tag",
  "endUser",
  "team",
] as const;
export type BreakdownDimension = (typeof BREAKDOWN_DIMENSIONS)[number];

/** One value per breakdown dimension, made by `f`. */
export function perBreakdown<T>(f: (dim: BreakdownDimension) => T): Record<BreakdownDimension, T> {
  return Object.fromEntries(BREAKDOWN_DIMENSIONS.map((d) => [d, f(d)])) as Record<BreakdownDimension, T>;
}

export type UsageStats = {
  range: { start: string; end: string; tz: string; days: number };
  kind: "all" | UsageKind;
  /** Which roll-up answered: for the curious and for the benchmark. */
  source: "daily" | "hourly" | "daily_dims" | "hourly_dims" | "daily_attr" | "hourly_attr";
  totals: Totals;
  daily: DayStats[];
  /** One row per day and model that had usage. */
  dailyByModel: DayModelStats[];
  breakdowns: Record<BreakdownDimension, BreakdownRow[]>;
  previous?: { range: { start: string; end: string }; totals: Totals };
};

export type ResolvedUsageQuery = {
  start: string;
  end: string;
  tz: string;
  kind: "all" | UsageKind;
  /** Conditions on r.* for usage_daily / usage_hourly; none means everyone's usage unfiltered. */
  filters: UsageFilter[];
};

/** One condition of a query: a column equals a value, or (`tags`) the call's tags include it. */
export type UsageFilter = { column: string; value: string };

/** The attribution filters, and the dim of usage_*_attr (and *_dims) each reads. */
const ATTRIBUTION_DIMS: Record<string, string> = { tags: "tag", end_user: "end_user", team_id: "team" };

/**
 * A filter as SQL on `alias`: on the events a column (the tags: an array that includes the value);
 * on the roll-ups a key column, or for a tag or an end user the attribution rows of that value.
 * `p` binds a parameter and returns its placeholder.
 */
export function filterSql(f: UsageFilter, alias: string, table: "rollups" | "events", p: (v: unknown) => string): string {
  const dim = ATTRIBUTION_DIMS[f.column];
  if (!dim) return `${alias}.${f.column} = ${p(f.value)}`;
  if (table === "rollups") return `${alias}.dim = ${p(dim)} AND ${alias}.value = ${p(f.value)}`;
  return f.column === "tags" ? `${p(f.value)} = ANY(${alias}.tags)` : `${alias}.${f.column} = ${p(f.value)}`;
}

const isAttributionFilter = (f: UsageFilter) => f.column in ATTRIBUTION_DIMS;

// ---------------------------------------------------------------------------------------------
// Who may see what

/** The caller's scope and filters: 403 when a non-admin asks for another user's or key's usage. */
export async function resolveUsageQuery(identity: AuthenticatedIdentity, q: StatsQuery): Promise<ResolvedUsageQuery> {
  const tz = canonicalTimeZone(q.tz ?? "UTC");
  const end = q.end ?? (q.start ? minDate(addDays(q.start, 29), todayIn(tz)) : todayIn(tz));
  const start = q.start ?? addDays(end, -29);
  if (start > end) throw new AppError("invalid_request", `The end date ${end} is before the start date ${start}`, { field: "end" });
  if (daysBetween(start, end) > MAX_RANGE_DAYS) {
    throw new AppError(
      "invalid_request",
      `A range covers at most ${MAX_RANGE_DAYS} days; ${start} to ${end} is ${daysBetween(start, end)}`,
      { field: "end" },
    );
  }

  // A team's usage is its members' to see: under the team filter, the caller's own-usage filter gives way to the team's.
  if (q.teamId !== undefined) {
    try {
      await requireTeamAbility(identity, q.teamId, "view");
    } catch (e) {
      if (e instanceof AppError && (e.code === "not_found" || e.code === "forbidden"))
        throw new AppError("forbidden", "team_id: you may read the usage of your own teams only; an admin may read any team's", {
          field: "team_id",
        });
      throw e;
    }
  }
  const owner = q.teamId !== undefined ? ({ all: true } as const) : ownershipOf(identity);
  const admin = ownershipOf(identity).all;
  const filters: ResolvedUsageQuery["filters"] = [];
  if (!owner.all) {
    if ("userId" in owner) filters.push({ column: "user_id", value: owner.userId });
    else filters.push({ column: "api_key_id", value: owner.apiKeyId });
  }
  if (q.userId !== undefined) {
    const own = ownershipOf(identity);
    if (!admin && !("userId" in own && own.userId === q.userId)) {
      throw new AppError("forbidden", "user_id: you may read only your own usage; an admin may read anyone's", { field: "user_id" });
    }
    if (owner.all) filters.push({ column: "user_id", value: q.userId });
  }
  if (q.apiKeyId !== undefined) {
    if (!admin) {
      const key = await getApiKeyById(q.apiKeyId);
      const own = ownershipOf(identity);
      const mine =
        key &&
        (q.teamId !== undefined
          ? key.teamId === q.teamId
          : "userId" in own
            ? key.userId === own.userId
            : "apiKeyId" in own && key.id === own.apiKeyId);
      if (!mine) throw new AppError("forbidden", "api_key_id: you may read only the usage of your own keys", { field: "api_key_id" });
    }
    filters.push({ column: "api_key_id", value: q.apiKeyId });
  }
  if (q.model !== undefined) filters.push({ column: "model_id", value: await canonicalModelId(q.model) });
  if (q.provider !== undefined) filters.push({ column: "provider", value: q.provider });
  if (q.endpoint !== undefined) filters.push({ column: "endpoint", value: q.endpoint });
  if (q.status !== undefined) filters.push({ column: "status", value: q.status });
  if (q.tag !== undefined && q.endUser !== undefined) {
    // A tag's roll-up rows do not carry the end user (nor an end user's the tags): that keeps them
    // from multiplying by each other. The requests list (GET /v1/llm/requests) takes both.
    throw new AppError("invalid_request", "tag and end_user: filter the statistics by one of them at a time", { field: "end_user" });
  }
  if (q.teamId !== undefined && (q.tag !== undefined || q.endUser !== undefined)) {
    // A team's roll-up rows are attribution rows too (usage_*_attr): they carry neither tags nor end users.
    throw new AppError("invalid_request", "team_id: filter the statistics by a team, a tag or an end user, one at a time", {
      field: "team_id",
    });
  }
  if (q.tag !== undefined) filters.push({ column: "tags", value: q.tag });
  if (q.endUser !== undefined) filters.push({ column: "end_user", value: q.endUser });
  if (q.teamId !== undefined) filters.push({ column: "team_id", value: q.teamId });
  return { start, end, tz, kind: q.kind ?? "all", filters };
}

const minDate = (a: string, b: string) => (a < b ? a : b);

/** Usage rows carry canonical ids; an alias in a filter means its model. Unknown names stay as given (retired models). */
async function canonicalModelId(name: string): Promise<string> {
  await catalogueReady();
  try {
    return resolveModel(name).id;
  } catch (err) {
    if (err instanceof AppError && err.code === "not_found") return name;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// SQL

type Row = {
  dim: string;
  value: string;
  day: string | null;
  requests: string | null;
  errors: string | null;
  input_tokens: string | null;
  output_tokens: string | null;
  cached_input_tokens: string | null;
  reasoning_tokens: string | null;
  cost: string | null;
  latency_ms_sum: string | null;
  hist: string | null;
  /** A key's "name (prefix…)" or a user's email, for those dimensions; null when unknown. */
  label?: string | null;
};

/** Adds display names of keys and users (in the same statement, to save a round trip). */
function withLabels(sql: string): string {
  return `SELECT g.*, CASE WHEN g.dim = 'api_key' THEN k.name || ' (' || k.prefix || '…)'
    WHEN g.dim = 'user' THEN coalesce(u.email, u.name, 'jwt:' || u.external_id) WHEN g.dim = 'team' THEN tm.name END AS label
FROM (${sql}) g
LEFT JOIN api_keys k ON g.dim = 'api_key' AND k.id = g.value
LEFT JOIN users u ON g.dim = 'user' AND u.id = g.value
LEFT JOIN teams tm ON g.dim = 'team' AND tm.id = g.value`;
}

export type Source = {
  /** A query of the rows to sum: `day` (the local day) and the roll-up's columns, filtered. */
  rows: string;
  /** The same as a derived table `x`. */
  from: string;
  params: unknown[];
  /**
   * Reading the *_dims tables. Then, in a zone off UTC, dimensions other than 'total' and 'model'
   * are right only summed over the whole range, not per day (hours that cancel out over the range
   * are not read for them).
   */
  dims: boolean;
  name: UsageStats["source"];
};

const FULL_COLUMNS = ["user_id", "api_key_id", "model_id", "provider", "endpoint", "status", "deployment"];
const ATTR_COLUMNS = [...FULL_COLUMNS, "dim", "value"];
const DIM_COLUMNS = ["kind", "dim", "value"];
/** The roll-ups' summed columns (the *_dims tables also have `errors`). */
export type SummedColumn =
  | "requests"
  | "input_tokens"
  | "output_tokens"
  | "cached_input_tokens"
  | "reasoning_tokens"
  | "cost"
  | "latency_ms_sum"
  | "latency_hist"
  | "saved_cost";
const SUMMED: readonly SummedColumn[] = [
  "requests",
  "input_tokens",
  "output_tokens",
  "cached_input_tokens",
  "reasoning_tokens",
  "cost",
  "latency_ms_sum",
  "latency_hist",
  "saved_cost",
];
/** What the statistics read (not saved_cost: that is savings.ts's). */
const STATS_SUMMED = SUMMED.filter((c) => c !== "saved_cost");

/**
 * The rows of one range. Days that are UTC days read the daily table; local days elsewhere read
 * the daily table plus hourly corrections (planLocalDays), each row weighted +1 or -1. Everyone's
 * unfiltered usage reads the *_dims tables; a tag or end-user filter the attribution roll-ups
 * (usage_*_attr, the rows of that tag or end user); any other filter the full roll-ups.
 * `attribution` reads every attribution row under the query's filters instead (the tag and
 * end-user breakdowns of a filtered view).
 */
export function sourceFor(
  r: ResolvedUsageQuery,
  range: { start: string; end: string },
  params: unknown[],
  columns: readonly SummedColumn[] = SUMMED,
  attribution = false,
): Source {
  const attr = attribution || r.filters.some(isAttributionFilter);
  const dims = !attr && r.filters.length === 0;
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const conds: string[] = [];
  if (!dims) for (const f of r.filters) conds.push(filterSql(f, "r", "rollups", p));
  if (attribution && !r.filters.some(isAttributionFilter)) conds.push(`r.dim IN ('tag', 'end_user', 'team')`);
  if (r.kind !== "all") conds.push(`r.kind = ${p(r.kind)}`);
  const filter = conds.map((c) => ` AND ${c}`).join("");
  const keys = (dims ? DIM_COLUMNS : attr ? ATTR_COLUMNS : FULL_COLUMNS).map((c) => `r.${c}`).join(", ");
  const summed: string[] = [...columns, ...(dims ? ["errors"] : [])];
  const table = dims ? "dims" : attr ? "attr" : "";
  const daily = table ? `usage_daily_${table}` : "usage_daily";
  const hourly = table ? `usage_hourly_${table}` : "usage_hourly";
  const name = (period: "daily" | "hourly") => (table ? `${period}_${table}` : period) as UsageStats["source"];

  // An hourly row counts +1 or -1. In the *_dims tables only the 'total' rows' latency histograms
  // are summed (statsSql), so the others are not multiplied (a histogram is a 60-digit numeric).
  const weighted = (c: string) =>
    dims && c === "latency_hist" ? `CASE WHEN h.dim = 'total' THEN h.${c} * c.sign ELSE 0 END AS ${c}` : `h.${c} * c.sign`;
  const plan = localDayPlan(r.tz, range.start, range.end);
  if (!plan) {
    const rows = `SELECT r.day, ${keys}, ${summed.map((c) => `r.${c}`).join(", ")} FROM ${daily} r
      WHERE r.day >= ${p(range.start)}::date AND r.day <= ${p(range.end)}::date${filter}`;
    return { rows, from: `(${rows}) x`, params, dims, name: name("daily") };
  }
  const utcDays = plan.days.map((d) => d.utcDay);
  const dayPart = `SELECT c.local_day AS day, ${keys}, ${summed.map((c) => `r.${c}`).join(", ")}
      FROM unnest(${p(utcDays)}::date[], ${p(plan.days.map((d) => d.localDay))}::date[]) AS c(day, local_day)
      JOIN ${daily} r ON r.day = c.day
      WHERE r.day >= ${p(utcDays[0] ?? range.start)}::date AND r.day <= ${p(utcDays.at(-1) ?? range.start)}::date${filter}`;
  // LATERAL with OFFSET 0 (which keeps PostgreSQL from flattening it into a hash join against the
  // whole table): one primary-key lookup per listed hour.
  // In the *_dims tables, an hour that one local day of the range takes and another adds (New
  // York's 5 + 5 edge hours of every day but the range's own ends) cancels out over the range, so
  // only its 'total' and 'model' rows are read, for the per-day series; the other dimensions are
  // only ever summed over the whole range (see Source).
  const net = new Map<number, number>();
  for (const h of plan.hours) net.set(h.hour.getTime(), (net.get(h.hour.getTime()) ?? 0) + h.sign);
  // The tag and end-user breakdowns of a filtered view (`attribution`) are only summed over the
  // whole range too: only the hours that do not cancel out are read for them.
  const perDayOnly = dims ? ` AND (c.counts OR r.dim IN ('total', 'model'))` : attribution ? " AND c.counts" : "";
  const hourPart = `SELECT c.local_day, ${keys.replace(/r\./g, "h.")}, ${summed.map((c) => weighted(c)).join(", ")}
      FROM unnest(${p(plan.hours.map((h) => h.hour.toISOString()))}::timestamptz[], ${p(plan.hours.map((h) => h.localDay))}::date[], ${p(plan.hours.map((h) => h.sign))}::int[],
        ${p(plan.hours.map((h) => net.get(h.hour.getTime()) !== 0))}::boolean[]) AS c(hour, local_day, sign, counts)
      CROSS JOIN LATERAL (SELECT r.* FROM ${hourly} r WHERE r.hour = c.hour${filter}${perDayOnly} OFFSET 0) h`;
  const rows = `${dayPart}\n    UNION ALL\n    ${hourPart}`;
  return { rows, from: `(${rows}) x`, params, dims, name: name("hourly") };
}

function measuresSql(dims: boolean, x = "x"): string {
  const errors = dims ? `sum(${x}.errors)` : `coalesce(sum(${x}.requests) FILTER (WHERE ${x}.status = 'error'), 0)`;
  return `sum(${x}.requests)::text AS requests, ${errors}::text AS errors, sum(${x}.input_tokens)::text AS input_tokens,
    sum(${x}.output_tokens)::text AS output_tokens, sum(${x}.cached_input_tokens)::text AS cached_input_tokens,
    sum(${x}.reasoning_tokens)::text AS reasoning_tokens, sum(${x}.cost)::text AS cost, sum(${x}.latency_ms_sum)::text AS latency_ms_sum`;
}

/** Everything the statistics need for a range, in one statement. */
function statsSql(r: ResolvedUsageQuery): { sql: string; params: unknown[]; source: UsageStats["source"] } {
  const src = sourceFor(r, r, [], STATS_SUMMED);
  const m = measuresSql(src.dims);
  if (src.dims) {
    return {
      source: src.name,
      params: src.params,
      sql: withLabels(`SELECT x.dim, x.value, CASE WHEN x.dim IN ('total', 'model') THEN x.day::text END AS day, ${m},
  (sum(x.latency_hist) FILTER (WHERE x.dim = 'total'))::text AS hist
FROM ${src.from}
GROUP BY 1, 2, 3`),
    };
  }
  // The tag and end-user breakdowns: under a tag or end-user filter, that one tag or end user (the
  // rows read); under other filters, every attribution row those filters select.
  const attributed = src.name.endsWith("_attr");
  const a = attributed ? undefined : sourceFor(r, r, src.params, STATS_SUMMED, true);
  const attribution = a
    ? `SELECT a.dim, a.value, NULL, ${measuresSql(false, "a")}, NULL FROM (${a.rows}) a GROUP BY a.dim, a.value`
    : `SELECT x.dim, x.value, NULL, ${m}, NULL FROM x GROUP BY x.dim, x.value`;
  // The filtered rows are summed per day and per breakdown. NOT MATERIALIZED: reading them twice
  // through the filter's index was faster here than materializing the wide rows once.
  return {
    source: src.name,
    params: src.params,
    sql: withLabels(`WITH x AS NOT MATERIALIZED (${src.rows})
SELECT 'total' AS dim, '' AS value, x.day::text AS day, ${m}, sum(x.latency_hist)::text AS hist
FROM x
GROUP BY x.day
UNION ALL
SELECT CASE WHEN GROUPING(x.model_id) = 0 THEN 'model' WHEN GROUPING(x.provider) = 0 THEN 'provider'
    WHEN GROUPING(x.api_key_id) = 0 THEN 'api_key' WHEN GROUPING(x.user_id) = 0 THEN 'user'
    WHEN GROUPING(x.endpoint) = 0 THEN 'endpoint' WHEN GROUPING(x.status) = 0 THEN 'status' ELSE 'deployment' END,
  coalesce(x.model_id, x.provider, x.api_key_id, x.user_id, x.endpoint, x.status, x.deployment),
  x.day::text, ${m}, NULL
FROM x
GROUP BY GROUPING SETS ((x.model_id, x.day), (x.provider), (x.api_key_id), (x.user_id), (x.endpoint), (x.status), (x.deployment))
UNION ALL
${attribution}`),
  };
}

/** The totals of a range only (the previous range of a comparison). */
function totalsSql(r: ResolvedUsageQuery, range: { start: string; end: string }): { sql: string; params: unknown[] } {
  const src = sourceFor(r, range, [], STATS_SUMMED);
  return {
    params: src.params,
    sql: `SELECT 'total' AS dim, '' AS value, NULL AS day, ${measuresSql(src.dims)}, sum(x.latency_hist)::text AS hist
FROM ${src.from}${src.dims ? " WHERE x.dim = 'total'" : ""}`,
  };
}

// ---------------------------------------------------------------------------------------------
// Assembly

const ZERO: Measures = {
  requests: 0,
  errors: 0,
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  reasoningTokens: 0,
  cost: 0n,
  latencyMsSum: 0,
};

function measuresOf(row: Row): Measures {
  return {
    requests: Number(row.requests ?? 0),
    errors: Number(row.errors ?? 0),
    inputTokens: Number(row.input_tokens ?? 0),
    outputTokens: Number(row.output_tokens ?? 0),
    cachedInputTokens: Number(row.cached_input_tokens ?? 0),
    reasoningTokens: Number(row.reasoning_tokens ?? 0),
    cost: parseUsd(row.cost ?? "0"),
    latencyMsSum: Number(row.latency_ms_sum ?? 0),
  };
}

function add(a: Measures, b: Measures): Measures {
  return {
    requests: a.requests + b.requests,
    errors: a.errors + b.errors,
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cachedInputTokens: a.cachedInputTokens + b.cachedInputTokens,
    reasoningTokens: a.reasoningTokens + b.reasoningTokens,
    cost: a.cost + b.cost,
    latencyMsSum: a.latencyMsSum + b.latencyMsSum,
  };
}

const avgLatency = (m: Measures) => (m.requests ? Math.round((m.latencyMsSum / m.requests) * 10) / 10 : null);

function totalsOf(m: Measures, hist: readonly number[]): Totals {
  return {
    ...m,
    totalTokens: m.inputTokens + m.outputTokens,
    errorRate: m.requests ? m.errors / m.requests : 0,
    avgLatencyMs: avgLatency(m),
    latency: percentiles(hist),
  };
}

const DIM_KEYS: Record<string, BreakdownDimension> = {
  model: "model",
  provider: "provider",
  api_key: "apiKey",
  user: "user",
  endpoint: "endpoint",
  status: "status",
  deployment: "deployment",
  tag: "tag",
  end_user: "endUser",
  team: "team",
};

/** The statistics of `query` as `identity` may see them. */
export async function usageStats(identity: AuthenticatedIdentity, query: StatsQuery = {}): Promise<UsageStats> {
  const r = await resolveUsageQuery(identity, query);
  const db = await getDatabase();
  const { sql, params, source } = statsSql(r);
  const previousRange = { start: addDays(r.start, -daysBetween(r.start, r.end)), end: addDays(r.start, -1) };
  const prev = query.compare ? totalsSql(r, previousRange) : undefined;
  const [rows, prevRows] = await Promise.all([db.rawQuery<Row>(sql, params), prev ? db.rawQuery<Row>(prev.sql, prev.params) : undefined]);

  const byDay = new Map<string, { m: Measures; hist: number[] }>();
  const modelDays: DayModelStats[] = [];
  const groups = new Map<BreakdownDimension, Map<string, Measures>>();
  const names = new Map<string, string>();
  for (const row of rows) {
    if (row.label) names.set(`${row.dim}:${row.value}`, row.label);
    const m = measuresOf(row);
    if (row.dim === "total") {
      byDay.set(row.day!, { m, hist: decodeHistogram(row.hist) });
      continue;
    }
    const dim = DIM_KEYS[row.dim];
    // No deployment (cache hits, embeddings) and no end user are not rows of those breakdowns.
    if (!dim || ((dim === "deployment" || dim === "endUser") && !row.value)) continue;
    if (dim === "model") modelDays.push({ ...m, date: row.day!, model: row.value, totalTokens: m.inputTokens + m.outputTokens });
    const group = groups.get(dim) ?? new Map<string, Measures>();
    group.set(row.value, add(group.get(row.value) ?? ZERO, m));
    groups.set(dim, group);
  }

  let total = ZERO;
  const totalHist = new Array<number>(LATENCY_BUCKETS).fill(0);
  const daily: DayStats[] = [];
  for (let d = r.start; d <= r.end; d = addDays(d, 1)) {
    const day = byDay.get(d);
    const m = day?.m ?? ZERO;
    const hist = day?.hist ?? [];
    total = add(total, m);
    addHistograms(totalHist, hist);
    daily.push({ date: d, ...totalsOf(m, hist) });
  }
  modelDays.sort((a, b) => (a.date === b.date ? a.model.localeCompare(b.model) : a.date < b.date ? -1 : 1));

  const labels = (dim: BreakdownDimension, value: string) => {
    if (dim === "apiKey") return value ? (names.get(`api_key:${value}`) ?? `deleted key ${value}`) : "no key (dashboard or JWT)";
    if (dim === "user") return value ? (names.get(`user:${value}`) ?? `deleted user ${value}`) : "no user";
    if (dim === "team") return names.get(`team:${value}`) ?? `deleted team ${value}`;
    return value;
  };
  const breakdowns = {} as Record<BreakdownDimension, BreakdownRow[]>;
  for (const dim of Object.values(DIM_KEYS)) {
    breakdowns[dim] = [...(groups.get(dim) ?? new Map<string, Measures>())]
      .map(([value, m]) => ({
        ...m,
        value,
        label: labels(dim, value),
        totalTokens: m.inputTokens + m.outputTokens,
        avgLatencyMs: avgLatency(m),
      }))
      .sort((a, b) => (b.cost === a.cost ? b.requests - a.requests : b.cost > a.cost ? 1 : -1));
  }

  const stats: UsageStats = {
    range: { start: r.start, end: r.end, tz: r.tz, days: daysBetween(r.start, r.end) },
    kind: r.kind,
    source,
    totals: totalsOf(total, totalHist),
    daily,
    dailyByModel: modelDays,
    breakdowns,
  };
  if (prevRows) {
    const row = prevRows[0];
    stats.previous = { range: previousRange, totals: totalsOf(row ? measuresOf(row) : ZERO, decodeHistogram(row?.hist)) };
  }
  return stats;
}
