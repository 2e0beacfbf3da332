// Formatting for the usage dashboard. Costs arrive as exact decimal strings; they are rounded
// only for display (the exact value stays in a title and a data attribute).

/** "$1,234.57", "$0.0123", "$0.000083"; more decimals as amounts get smaller. */
export function money(exact: string | number): string {
  const v = typeof exact === "number" ? exact : Number(exact);
  if (v === 0) return "$0.00";
  const abs = Math.abs(v);
  const digits = abs >= 1 ? 2 : abs >= 0.01 ? 4 : 6;
  return `${v < 0 ? "-" : ""}$${abs.toLocaleString("en-US", { minimumFractionDigits: digits > 2 ? 2 : digits, maximumFractionDigits: digits })}`;
}

export function count(n: number): string {
  return n.toLocaleString("en-US");
}

/** 1234567 → "1.23M", 12345 → "12.3K". */
export function compact(n: number): string {
  return n.toLocaleString("en-US", { notation: "compact", maximumFractionDigits: n >= 1000 ? 2 : 0 });
}

export function percent(ratio: number, digits = 1): string {
  return `${(ratio * 100).toFixed(digits)}%`;
}

/** 850 → "850 ms", 2233 → "2.23 s", 31000 → "31.0 s". */
export function ms(value: number | null): string {
  if (value === null) return "—";
  if (value < 1000) return `${Math.round(value)} ms`;
  return `${(value / 1000).toFixed(value < 10_000 ? 2 : 1)} s`;
}

/** "Nov 3" for "2026-11-03" (calendar dates, no time-zone conversion). */
export function shortDate(day: string): string {
  return new Date(`${day}T00:00:00Z`).toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
}

export type Change = { text: string; direction: "up" | "down" | "flat" | "new" };

/** The relative change from `previous` to `current`. */
export function relativeChange(current: number, previous: number): Change {
  if (previous === 0) return current === 0 ? { text: "no change", direction: "flat" } : { text: "new", direction: "new" };
  const r = (current - previous) / previous;
  if (Math.abs(r) < 0.0005) return { text: "no change", direction: "flat" };
  return { text: `${r > 0 ? "+" : "−"}${(Math.abs(r) * 100).toFixed(1)}%`, direction: r > 0 ? "up" : "down" };
}

/** The change of a rate in percentage points. */
export function pointChange(current: number, previous: number): Change {
  const d = (current - previous) * 100;
  if (Math.abs(d) < 0.05) return { text: "no change", direction: "flat" };
  return { text: `${d > 0 ? "+" : "−"}${Math.abs(d).toFixed(1)} pts`, direction: d > 0 ? "up" : "down" };
}

/** Today's date (YYYY-MM-DD) in a time zone. */
export function todayIn(tz: string, now = new Date()): string {
  return new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }).format(now);
}

export function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

/** The browser's time zone when its offset from UTC is a whole number of hours (what the server can sum), else undefined. */
export function browserTimeZone(): string | undefined {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!tz || tz === "UTC" || tz === "Etc/UTC") return undefined;
  const offsets = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((m) => {
    const at = new Date(Date.UTC(new Date().getUTCFullYear(), m, 15));
    const name =
      new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: "longOffset" })
        .formatToParts(at)
        .find((p) => p.type === "timeZoneName")?.value ?? "GMT";
    return /:(\d\d)$/.exec(name)?.[1] ?? "00";
  });
  return offsets.every((m) => m === "00") ? tz : undefined;
}

// ---------------------------------------------------------------------------------------------
// The dashboard's stats query (shared by the server render and the client component)

export type StatsInput = {
  start: string;
  end: string;
  tz: string;
  compare: true;
  model?: string;
  provider?: string;
  apiKeyId?: string;
  userId?: string;
};

export type Filters = { model: string; provider: string; apiKeyId: string; userId: string };
export const NO_FILTERS: Filters = { model: "", provider: "", apiKeyId: "", userId: "" };

/** The stats query for a range and filters; empty filters are left out. */
export function statsInput(range: { start: string; end: string; tz: string }, f: Filters = NO_FILTERS): StatsInput {
  return {
    ...range,
    compare: true,
    ...(f.model ? { model: f.model } : {}),
    ...(f.provider ? { provider: f.provider } : {}),
    ...(f.apiKeyId ? { apiKeyId: f.apiKeyId } : {}),
    ...(f.userId ? { userId: f.userId } : {}),
  };
}

export function defaultRange(tz = "UTC", days = 30): { start: string; end: string; tz: string } {
  const end = todayIn(tz);
  return { start: addDays(end, -(days - 1)), end, tz };
}
