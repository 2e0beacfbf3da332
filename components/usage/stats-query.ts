// The dashboard's stats query (shared by the server render of the usage page and the client
// component, and by the models page's usage column).
import type { DayRange } from "@/lib/dates";
import type { RouterInputs } from "../wire";

/** What the dashboard asks `usage.stats` for: a range of days, the comparison with the range before, filters. */
export type StatsInput = RouterInputs["usage"]["stats"] & DayRange & { compare: true };

export type Filters = { model: string; provider: string; apiKeyId: string; userId: string };
export const NO_FILTERS: Filters = { model: "", provider: "", apiKeyId: "", userId: "" };

/** The stats query for a range and filters; empty filters are left out. */
export function statsInput(range: DayRange, f: Filters = NO_FILTERS): StatsInput {
  return {
    ...range,
    compare: true,
    ...(f.model ? { model: f.model } : {}),
    ...(f.provider ? { provider: f.provider } : {}),
    ...(f.apiKeyId ? { apiKeyId: f.apiKeyId } : {}),
    ...(f.userId ? { userId: f.userId } : {}),
  };
}
