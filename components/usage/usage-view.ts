// What the usage dashboard shows (range, time zone, filters, status), kept in the page's URL so that
// a reload or a shared link opens the same view (#20 item 3): parsed by the server render and the
// client alike, written back with history.replaceState. Default values are left out of the URL.
import { addDays, daysBetween, defaultRange, type DayRange } from "@/lib/dates";
import { USAGE_STATUSES, type UsageStatus } from "@/lib/usage";
import { statsInput, type FilterName, type Filters, type StatsInput } from "./stats-query";

export type Preset = "7" | "30" | "90" | "custom";
export const PRESETS: readonly Preset[] = ["7", "30", "90", "custom"];
/** The longest range the statistics take (server/features/usage/usage-stats.ts MAX_RANGE_DAYS). */
export const MAX_RANGE_DAYS = 731;
/** The filters a select sets, each under its own name in the URL. */
export const FILTER_PARAMS = [
  "model",
  "provider",
  "apiKeyId",
  "userId",
  "tag",
  "endUser",
  "teamId",
] as const satisfies readonly FilterName[];

export type UsageView = {
  preset: Preset;
  /** The custom range's days, as typed (may be invalid: see rangeProblem). */
  custom: { start: string; end: string };
  tz: string;
  filters: Filters;
  status: UsageStatus | "";
};

type Params = URLSearchParams | Record<string, string | string[] | undefined>;

function param(params: Params, name: string): string | undefined {
  const v = params instanceof URLSearchParams ? params.get(name) : params[name];
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined || one === null || one === "" ? undefined : one;
}

function validZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const isDay = (s: string) =>
  DAY.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s);

/** The view a URL's query describes; anything missing or unreadable is the default (the last 30 days in UTC, no filter). */
export function viewFromParams(params: Params): UsageView {
  const tzParam = param(params, "tz");
  const tz = tzParam && tzParam.length <= 64 && validZone(tzParam) ? tzParam : "UTC";
  const rangeParam = param(params, "range");
  const from = param(params, "from");
  const to = param(params, "to");
  const preset: Preset = from || to ? "custom" : PRESETS.includes(rangeParam as Preset) ? (rangeParam as Preset) : "30";
  const fallback = defaultRange(tz, preset === "custom" ? 30 : Number(preset));
  const filters: Filters = {};
  for (const name of FILTER_PARAMS) {
    const v = param(params, name);
    if (v && v.length <= 200) filters[name] = v;
  }
  const status = param(params, "status");
  return {
    preset,
    custom: { start: from?.slice(0, 10) ?? fallback.start, end: to?.slice(0, 10) ?? fallback.end },
    tz,
    filters,
    status: USAGE_STATUSES.includes(status as UsageStatus) ? (status as UsageStatus) : "",
  };
}

/** The query that describes a view, defaults left out ("" for the default view). */
export function viewToParams(view: UsageView): URLSearchParams {
  const p = new URLSearchParams();
  if (view.preset === "custom") {
    p.set("from", view.custom.start);
    p.set("to", view.custom.end);
  } else if (view.preset !== "30") p.set("range", view.preset);
  if (view.tz !== "UTC") p.set("tz", view.tz);
  for (const name of FILTER_PARAMS) if (view.filters[name]) p.set(name, view.filters[name]!);
  if (view.status) p.set("status", view.status);
  return p;
}

/** Why a custom range cannot be shown, in words for the person who typed it; null when it can. */
export function rangeProblem(custom: { start: string; end: string }): string | null {
  if (!isDay(custom.start)) return `“From” is not a date: ${custom.start || "empty"}`;
  if (!isDay(custom.end)) return `“To” is not a date: ${custom.end || "empty"}`;
  if (custom.start > custom.end) return `“From” (${custom.start}) is after “To” (${custom.end}): choose a start on or before the end`;
  if (daysBetween(custom.start, custom.end) > MAX_RANGE_DAYS)
    return `The range covers ${daysBetween(custom.start, custom.end)} days; at most ${MAX_RANGE_DAYS} can be shown at once (from ${addDays(custom.end, -(MAX_RANGE_DAYS - 1))} for this end)`;
  return null;
}

/** The days the view covers, or null when its custom range is invalid. */
export function viewRange(view: UsageView): DayRange | null {
  if (view.preset !== "custom") return defaultRange(view.tz, Number(view.preset));
  return rangeProblem(view.custom) ? null : { ...view.custom, tz: view.tz };
}

/** The statistics query of a view (an invalid custom range: the last 30 days, as the page shows then). */
export function viewInput(view: UsageView): StatsInput {
  const range = viewRange(view) ?? defaultRange(view.tz, 30);
  return { ...statsInput(range, view.filters), ...(view.status ? { status: view.status } : {}) };
}
