// Numbers as the dashboard shows them: counts, compact counts, percentages, durations, and the
// change of a figure against the previous period.

export function count(n: number): string {
  return n.toLocaleString("en-US");
}

/** A count with its noun, singular for one: "1 request", "0 requests", "1,234 requests". */
export function counted(n: number, noun: string, plural = `${noun}s`): string {
  return `${count(n)} ${n === 1 ? noun : plural}`;
}

/** 1234567 → "1.23M", 12345 → "12.3K". */
export function compact(n: number): string {
  return n.toLocaleString("en-US", { notation: "compact", maximumFractionDigits: n >= 1000 ? 2 : 0 });
}

export function percent(ratio: number, digits = 1): string {
  return `${(ratio * 100).toFixed(digits)}%`;
}

/** 850 → "850 ms", 2233 → "2.23 s", 31000 → "31.0 s"; "—" for none. */
export function ms(value: number | null): string {
  if (value === null) return "—";
  if (value < 1000) return `${Math.round(value)} ms`;
  return `${(value / 1000).toFixed(value < 10_000 ? 2 : 1)} s`;
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
