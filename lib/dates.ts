// Calendar days and their display, as both the usage statistics (server/features/usage) and the
// dashboard handle them. A day is a "YYYY-MM-DD" string; arithmetic on it is in UTC, so it never
// shifts with the zone of the machine that runs it. JavaScript's Intl (the ICU time-zone data of
// Node and of the browser) is the one source of time-zone offsets.

const DAY_MS = 86_400_000;

/** "2026-11-25" ± n days. */
export function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
}

/** Days from `start` to `end`, both included. */
export function daysBetween(start: string, end: string): number {
  return Math.round((Date.parse(`${end}T00:00:00Z`) - Date.parse(`${start}T00:00:00Z`)) / DAY_MS) + 1;
}

/** Every day from `start` to `end`, both included. */
export function eachDay(start: string, end: string): string[] {
  const out: string[] = [];
  for (let d = start; d <= end; d = addDays(d, 1)) out.push(d);
  return out;
}

const TICK_STEPS = [1, 2, 3, 7, 14, 28, 56, 91, 182, 364];

/** The days of a chart's date axis to label: at one even step (a day, two, three, a week, two weeks, …) chosen so that
    at most `max` are labelled, counted back from the last day so that it is always labelled. */
export function evenDayTicks(days: string[], max = 8): string[] {
  const n = days.length;
  const step = TICK_STEPS.find((s) => Math.ceil(n / s) <= max) ?? Math.ceil(n / max);
  return days.filter((_, i) => (n - 1 - i) % step === 0);
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function offsetFormatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: "longOffset", year: "numeric" });
    formatters.set(tz, f);
  }
  return f;
}

/** The zone's offset from UTC at an instant, in minutes (Berlin in winter: 60). */
export function offsetMinutes(tz: string, at: number): number {
  const name = offsetFormatter(tz)
    .formatToParts(at)
    .find((p) => p.type === "timeZoneName")?.value;
  const m = /^GMT(?:([+-])(\d{1,2})(?::(\d{2}))?)?$/.exec(name ?? "");
  if (!m) throw new Error(`Unexpected offset ${JSON.stringify(name)} for ${tz}`);
  if (!m[1]) return 0;
  const minutes = Number(m[2]) * 60 + Number(m[3] ?? 0);
  return m[1] === "-" ? -minutes : minutes;
}

/** Today's date (YYYY-MM-DD) in the zone. */
export function todayIn(tz: string, now: number | Date = Date.now()): string {
  const t = typeof now === "number" ? now : now.getTime();
  return new Date(t + offsetMinutes(tz, t) * 60_000).toISOString().slice(0, 10);
}

/** A range of calendar days in a zone, both ends included. */
export type DayRange = { start: string; end: string; tz: string };

/** The last `days` days in `tz`, today included. */
export function defaultRange(tz = "UTC", days = 30): DayRange {
  const end = todayIn(tz);
  return { start: addDays(end, -(days - 1)), end, tz };
}

/** The browser's time zone when its offset from UTC is a whole number of hours (what the server can sum), else undefined. */
export function browserTimeZone(): string | undefined {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!tz || tz === "UTC" || tz === "Etc/UTC") return undefined;
  const year = new Date().getUTCFullYear();
  const whole = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].every((m) => offsetMinutes(tz, Date.UTC(year, m, 15)) % 60 === 0);
  return whole ? tz : undefined;
}

/** "Nov 3" for "2026-11-03" (calendar dates, no time-zone conversion). */
export function shortDate(day: string): string {
  return new Date(`${day}T00:00:00Z`).toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
}

/** An instant in the reader's locale and zone, "Nov 3, 2026, 2:05 PM"; `never` for none. */
export function dateTime(at: Date | string | null, never = "never"): string {
  if (!at) return never;
  return new Date(at).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
