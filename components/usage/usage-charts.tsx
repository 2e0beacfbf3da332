"use client";
// The usage dashboard's charts (recharts): daily cost stacked by model, requests per model, tokens
// in and out per day, and latency (p50/p95) per day. Each takes the `usage.stats` output as is.
import type { ReactNode } from "react";
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { evenDayTicks, shortDate } from "@/lib/dates";
import { compact, count, ms } from "@/lib/format";
import { money } from "@/lib/money";
import type { RouterOutputs } from "../wire";
import styles from "./usage-dashboard.module.css";

export type Stats = RouterOutputs["usage"]["stats"];

/** Colours come from CSS variables (usage-dashboard.module.css), so dark mode adapts. */
export const SERIES_COLORS = Array.from({ length: 8 }, (_, i) => `var(--series-${i + 1})`);
const OTHER_COLOR = "var(--series-other)";
const MAX_STACKED_MODELS = 7;

const axis = { stroke: "var(--text-muted)", fontSize: 12, tickLine: false } as const;
const tooltipStyle = {
  contentStyle: { background: "var(--surface)", border: "1px solid var(--border)", borderRadius: 6, fontSize: 13 },
  labelStyle: { color: "var(--text)" },
} as const;

export function ChartCard({ title, testId, empty, children }: { title: string; testId: string; empty: boolean; children: ReactNode }) {
  return (
    <figure className={styles.chart} data-testid={testId}>
      <figcaption>{title}</figcaption>
      {empty ? <p className={styles.chartEmpty}>No requests in this range.</p> : <div className={styles.chartBody}>{children}</div>}
    </figure>
  );
}

/** A date axis labelled at one even step (every day, two, three, a week, …), ending on the range's last day, rather
    than wherever recharts finds room. A function, not a component: recharts finds its axes among a chart's children. */
function dateAxis(days: string[]) {
  return <XAxis dataKey="date" tickFormatter={shortDate} {...axis} ticks={evenDayTicks(days)} interval={0} />;
}

/** The models with the highest cost in the range, the rest folded into "other". */
function stackedModels(stats: Stats): string[] {
  return stats.breakdowns.model.slice(0, MAX_STACKED_MODELS).map((m) => m.value);
}

export function DailyCostChart({ stats }: { stats: Stats }) {
  const models = stackedModels(stats);
  const hasOther = stats.breakdowns.model.length > models.length;
  const byDay = new Map(stats.daily.map((d) => [d.date, { date: d.date } as Record<string, number | string>]));
  for (const r of stats.dailyByModel) {
    const row = byDay.get(r.date);
    if (!row) continue;
    const key = models.includes(r.model) ? r.model : "other";
    row[key] = ((row[key] as number | undefined) ?? 0) + Number(r.cost);
  }
  const data = [...byDay.values()];
  return (
    <ChartCard title="Daily cost by model" testId="chart-daily-cost" empty={stats.totals.requests === 0}>
      <ResponsiveContainer width="100%" height={280}>
        <BarChart data={data} margin={{ top: 8, right: 8, left: 4, bottom: 0 }}>
          <CartesianGrid vertical={false} stroke="var(--border)" />
          {dateAxis(data.map((d) => d.date as string))}
          <YAxis tickFormatter={(v: number) => money(v)} {...axis} width={72} />
          <Tooltip {...tooltipStyle} labelFormatter={(d) => shortDate(String(d))} formatter={(v) => money(Number(v))} />
          <Legend wrapperStyle={{ fontSize: 12 }} />
          {models.map((m, i) => (
            <Bar key={m} dataKey={m} name={m} stackId="cost" fill={SERIES_COLORS[i % SERIES_COLORS.length]} isAnimationActive={false} />
          ))}
          {hasOther ? <Bar dataKey="other" name="other models" stackId="cost" fill={OTHER_COLOR} isAnimationActive={false} /> : null}
        </BarChart>
      </ResponsiveContainer>
    </ChartCard>
  );
}

export function RequestsByModelChart({ stats }: { stats: Stats }) {
  const data = stats.breakdowns.model
    .map((m) => ({ model: m.value, requests: m.requests, errors: m.errors }))
    .sort((a, b) => b.requests - a.requests);
  const height = Math.max(160, data.length * 34 + 40);
  return (
    <ChartCard title="Requests per model" testId="chart-requests-by-model" empty={stats.totals.requests === 0}>
      <ResponsiveContainer width="100%" height={height}>
        <BarChart data={data} layout="vertical" margin={{ top: 4, right: 16, left: 8, bottom: 0 }}>
          <CartesianGrid horizontal={false} stroke="var(--border)" />
          <XAxis type="number" tickFormatter={compact} {...axis} allowDecimals={false} />
          <YAxis type="category" dataKey="model" {...axis} width={180} />
          <Tooltip {...tooltipStyle} formatter={(v) => count(Number(v))} />
          <Bar dataKey="requests" name="requests" fill={SERIES_COLORS[0]} isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </ChartCard>
  );
}

export function TokensChart({ stats }: { stats: Stats }) {
  const data = stats.daily.map((d) => ({ date: d.date, input: d.inputTokens, output: d.outputTokens }));
  return (
    <ChartCard title="Tokens in and out per day" testId="chart-tokens" empty={stats.totals.requests === 0}>
      <ResponsiveContainer width="100%" height={240}>
        <BarChart data={data} margin={{ top: 8, right: 8, left: 4, bottom: 0 }}>
          <CartesianGrid vertical={false} stroke="var(--border)" />
          {dateAxis(data.map((d) => d.date as string))}
          <YAxis tickFormatter={compact} {...axis} width={56} />
          <Tooltip {...tooltipStyle} labelFormatter={(d) => shortDate(String(d))} formatter={(v) => count(Number(v))} />
          <Legend wrapperStyle={{ fontSize: 12 }} />
          <Bar dataKey="input" name="input tokens" stackId="tokens" fill={SERIES_COLORS[0]} isAnimationActive={false} />
          <Bar dataKey="output" name="output tokens" stackId="tokens" fill={SERIES_COLORS[2]} isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </ChartCard>
  );
}

export function LatencyChart({ stats }: { stats: Stats }) {
  const data = stats.daily.map((d) => ({ date: d.date, p50: d.latency.p50, p95: d.latency.p95 }));
  return (
    <ChartCard title="Latency per day (p50 and p95)" testId="chart-latency" empty={stats.totals.requests === 0}>
      <ResponsiveContainer width="100%" height={240}>
        <LineChart data={data} margin={{ top: 8, right: 8, left: 4, bottom: 0 }}>
          <CartesianGrid vertical={false} stroke="var(--border)" />
          {dateAxis(data.map((d) => d.date as string))}
          <YAxis tickFormatter={(v: number) => ms(v)} {...axis} width={64} />
          <Tooltip
            {...tooltipStyle}
            labelFormatter={(d) => shortDate(String(d))}
            formatter={(v) => ms(v === null || v === undefined ? null : Number(v))}
          />
          <Legend wrapperStyle={{ fontSize: 12 }} />
          <Line type="monotone" dataKey="p50" name="p50" stroke={SERIES_COLORS[0]} dot={false} strokeWidth={2} isAnimationActive={false} />
          <Line type="monotone" dataKey="p95" name="p95" stroke={SERIES_COLORS[3]} dot={false} strokeWidth={2} isAnimationActive={false} />
        </LineChart>
      </ResponsiveContainer>
    </ChartCard>
  );
}
