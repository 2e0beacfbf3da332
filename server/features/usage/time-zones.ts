// Calendar days in a named time zone, as UTC instants: what the usage statistics need to sum
// hourly roll-ups into local days. JavaScript's Intl (the ICU time-zone data bundled with Node) is
// the one source of truth, so the database's own time-zone tables are never consulted.
import { AppError } from "../../kernel/errors.ts";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** "2026-11-25" ± n days. */
export function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
}

/** Days from `start` to `end`, both included. */
export function daysBetween(start: string, end: string): number {
  return Math.round((Date.parse(`${end}T00:00:00Z`) - Date.parse(`${start}T00:00:00Z`)) / DAY_MS) + 1;
}

export function eachDay(start: string, end: string): string[] {
  const out: string[] = [];
  for (let d = start; d <= end; d = addDays(d, 1)) out.push(d);
  return out;
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

const canonicalNames = new Map<string, string>();

/**
 * The canonical name of an IANA time zone ("europe/berlin" → "Europe/Berlin"), or an
 * invalid_request naming the `tz` field.
 */
export function canonicalTimeZone(tz: string, field = "tz"): string {
  if (!/^[A-Za-z][A-Za-z0-9_+\-]*(\/[A-Za-z0-9_+\-]+)*$/.test(tz)) {
    throw new AppError(
      "invalid_request",
      `${field}: ${JSON.stringify(tz)} is not an IANA time zone name such as UTC, Europe/Berlin or America/New_York`,
      { field },
    );
  }
  const known = canonicalNames.get(tz);
  if (known) return known;
  try {
    const name = new Intl.DateTimeFormat("en-US", { timeZone: tz }).resolvedOptions().timeZone;
    // Building a DateTimeFormat costs 0.2 to 2 ms; there are a few hundred zone names (and their
    // spellings), so the cache stays small, and it is capped in case a caller tries many.
    if (canonicalNames.size < 2_000) canonicalNames.set(tz, name);
    return name;
  } catch {
    throw new AppError(
      "invalid_request",
      `${field}: unknown time zone ${JSON.stringify(tz)}; use an IANA name such as UTC, Europe/Berlin or America/New_York`,
      { field },
    );
  }
}

/** Today's date in the zone. */
export function todayIn(tz: string, now = Date.now()): string {
  return new Date(now + offsetMinutes(tz, now) * 60_000).toISOString().slice(0, 10);
}

/** The UTC instant at which local `day` begins in `tz`. */
export function localDayStart(tz: string, day: string): number {
  const wall = Date.parse(`${day}T00:00:00Z`);
  // Two steps find the offset in force at local midnight, also across a DST change that day.
  let t = wall - offsetMinutes(tz, wall) * 60_000;
  t = wall - offsetMinutes(tz, t) * 60_000;
  return t;
}

export type LocalDay = { day: string; from: Date; to: Date };

/**
 * Each local day from `start` to `end` as a half-open UTC interval [from, to). Throws an
 * invalid_request when the zone's offset is not a whole number of hours on any of these days:
 * the roll-ups are hourly, so such a day could not be summed exactly.
 */
export function localDays(tz: string, start: string, end: string, field = "tz"): LocalDay[] {
  const days = eachDay(start, end);
  const bounds = [...days, addDays(end, 1)].map((d) => localDayStart(tz, d));
  for (const b of bounds) {
    if (b % HOUR_MS !== 0) {
      const off = offsetMinutes(tz, b);
      const text = `${off < 0 ? "-" : "+"}${String(Math.floor(Math.abs(off) / 60)).padStart(2, "0")}:${String(Math.abs(off) % 60).padStart(2, "0")}`;
      throw new AppError(
        "invalid_request",
        `${field}: ${tz} is UTC${text} in this range; usage is rolled up by the hour, so only time zones whose offset is a whole number of hours are supported`,
        { field },
      );
    }
  }
  return days.map((day, i) => ({ day, from: new Date(bounds[i]!), to: new Date(bounds[i + 1]!) }));
}

/** Whether every local day of the range starts at UTC midnight (UTC itself, or London in winter). */
export function alignedWithUtc(days: readonly LocalDay[]): boolean {
  return days.every((d) => d.from.getTime() % DAY_MS === 0 && d.to.getTime() - d.from.getTime() === DAY_MS);
}

/**
 * How to add up local days from daily and hourly roll-ups with the fewest hourly rows: a UTC day
 * that lies mostly inside a local day counts whole, minus its hours outside it; a UTC day that lies
 * mostly outside contributes only its hours inside. Berlin needs 2 hourly rows per local day, New
 * York 10; UTC none. Exact, since every daily row is the sum of its 24 hourly rows.
 */
export type DayPlan = {
  days: { utcDay: string; localDay: string }[];
  hours: { hour: Date; localDay: string; sign: 1 | -1 }[];
};

export function planLocalDays(days: readonly LocalDay[]): DayPlan {
  const plan: DayPlan = { days: [], hours: [] };
  const addHours = (from: number, to: number, localDay: string, sign: 1 | -1) => {
    for (let h = from; h < to; h += HOUR_MS) plan.hours.push({ hour: new Date(h), localDay, sign });
  };
  for (const d of days) {
    const lo = d.from.getTime();
    const hi = d.to.getTime();
    for (let u0 = Math.floor(lo / DAY_MS) * DAY_MS; u0 < hi; u0 += DAY_MS) {
      const u1 = u0 + DAY_MS;
      const a = Math.max(lo, u0);
      const b = Math.min(hi, u1);
      if (b <= a) continue;
      if (b - a >= DAY_MS / 2) {
        plan.days.push({ utcDay: new Date(u0).toISOString().slice(0, 10), localDay: d.day });
        addHours(u0, a, d.day, -1);
        addHours(b, u1, d.day, -1);
      } else {
        addHours(a, b, d.day, 1);
      }
    }
  }
  return plan;
}

const plans = new Map<string, DayPlan | null>();

/**
 * What summing the local days of `start`..`end` in `tz` needs: null when they are UTC days (the
 * daily roll-ups answer alone), else planLocalDays's plan. Remembered for the last few hundred
 * ranges asked for (a dashboard asks for the same one again and again; working it out costs 1 to
 * 2 ms for 90 days). Throws as localDays does.
 */
export function localDayPlan(tz: string, start: string, end: string): DayPlan | null {
  if (tz === "UTC") return null;
  const key = `${tz} ${start} ${end}`;
  const known = plans.get(key);
  if (known !== undefined) return known;
  const days = localDays(tz, start, end);
  const plan = alignedWithUtc(days) ? null : planLocalDays(days);
  if (plans.size >= 256) plans.delete(plans.keys().next().value!);
  plans.set(key, plan);
  return plan;
}
