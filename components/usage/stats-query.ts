// The dashboard's stats query (shared by the server render of the usage page and the client
// component, and by the models page's usage column).
import type { DayRange } from "@/lib/dates";
import type { RouterInputs } from "../wire";

/** What the dashboard asks `usage.stats` for: a range of days, the comparison with the range before, filters. */
export type StatsInput = RouterInputs["usage"]["stats"] & DayRange & { compare: true };

/** The filters a select can set: every free-text filter of `usage.stats` (from its input, so a new one needs only its control). */
export type FilterName = {
  [K in keyof StatsInput]-?: K extends keyof DayRange ? never : string extends NonNullable<StatsInput[K]> ? K : never;
}[keyof StatsInput];
/** The chosen value of each filter; absent or "" is every value. */
export type Filters = Partial<Record<FilterName, string>>;
export const NO_FILTERS: Filters = {};

/** The stats query for a range and filters; empty filters are left out. */
export function statsInput(range: DayRange, f: Filters = NO_FILTERS): StatsInput {
  const chosen = Object.fromEntries(Object.entries(f).filter(([, v]) => v)) as Filters;
  return { ...range, ...chosen, compare: true } as StatsInput;
}
