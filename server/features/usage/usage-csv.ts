import "server-only";
// The CSV export of a range: one line per day and model, from the same `usageStats` call that
// the dashboard's cards and charts show, so the column sums equal the cards exactly. Costs are
// exact decimals (USD), never rounded.
import type { AuthenticatedIdentity } from "../../access/auth.ts";
import { formatUsd } from "../catalogue/index.ts";
import { usageStats, type StatsQuery, type UsageStats } from "./usage-stats.ts";

export const CSV_COLUMNS = [
  "date",
  "model",
  "requests",
  "errors",
  "input_tokens",
  "output_tokens",
  "cached_input_tokens",
  "reasoning_tokens",
  "total_tokens",
  "cost_usd",
] as const;

function cell(value: string | number): string {
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function usageCsv(stats: UsageStats): string {
  const lines = [CSV_COLUMNS.join(",")];
  for (const r of stats.dailyByModel) {
    lines.push(
      [
        r.date,
        r.model,
        r.requests,
        r.errors,
        r.inputTokens,
        r.outputTokens,
        r.cachedInputTokens,
        r.reasoningTokens,
        r.totalTokens,
        formatUsd(r.cost),
      ]
        .map(cell)
        .join(","),
    );
  }
  return `${lines.join("\r\n")}\r\n`;
}

export async function exportUsageCsv(identity: AuthenticatedIdentity, query: StatsQuery): Promise<{ filename: string; csv: string }> {
  const stats = await usageStats(identity, { ...query, compare: false });
  const tz = stats.range.tz === "UTC" ? "" : `-${stats.range.tz.replace(/\//g, "_")}`;
  return { filename: `usage-${stats.range.start}-to-${stats.range.end}${tz}.csv`, csv: usageCsv(stats) };
}
