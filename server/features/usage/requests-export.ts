import "server-only";
// The filtered requests list (usage-recent.ts) as CSV or as JSON lines, every matching call newest
// first: GET /v1/llm/requests/export and the Requests page's export buttons. Read page by page by
// the same cursor as the list (1,000 calls a statement over the (created_at, id) index), and
// streamed as it is read, so an export of millions of calls holds one page in memory. Costs are
// exact decimals (CSV: USD text; JSON lines: as GET /v1/llm/requests spells a call).
import type { AuthenticatedIdentity } from "../../access/auth.ts";
import { formatUsd } from "../catalogue/index.ts";
import { recentRequests, type RecentQuery, type RecentRequest } from "./usage-recent.ts";
import { restRequest } from "./requests-shape.ts";

export const EXPORT_FORMATS = ["csv", "jsonl"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

const PAGE = 1000;

export const REQUEST_CSV_COLUMNS = [
  "id",
  "created_at",
  "request_id",
  "endpoint",
  "model",
  "provider",
  "deployment",
  "attempts",
  "api_key_id",
  "api_key",
  "user_id",
  "user",
  "status",
  "error_code",
  "stream",
  "input_tokens",
  "output_tokens",
  "cached_input_tokens",
  "reasoning_tokens",
  "cost_usd",
  "latency_ms",
  "ttft_ms",
  "tags",
  "end_user",
  "session_id",
] as const;

/**
 * A CSV cell: quoted when it holds a quote, comma or line break; a text that a spreadsheet would
 * run as a formula (=, +, -, @, tab, CR first) is prefixed with a quote mark.
 */
export function csvCell(value: string | number | boolean | null, text = false): string {
  if (value === null) return "";
  let s = String(value);
  if (text && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvLine(r: RecentRequest): string {
  const cells: [string | number | boolean | null, boolean?][] = [
    [r.id, true],
    [r.createdAt.toISOString()],
    [r.requestId, true],
    [r.endpoint, true],
    [r.model, true],
    [r.provider, true],
    [r.deployment, true],
    [r.attempts],
    [r.apiKeyId, true],
    [r.apiKey, true],
    [r.userId, true],
    [r.user, true],
    [r.status],
    [r.errorCode, true],
    [r.stream],
    [r.inputTokens],
    [r.outputTokens],
    [r.cachedInputTokens],
    [r.reasoningTokens],
    [formatUsd(r.cost)],
    [r.latencyMs],
    [r.ttftMs],
    [r.tags.join(" "), true],
    [r.endUser, true],
    [r.session, true],
  ];
  return cells.map(([v, text]) => csvCell(v, text)).join(",");
}

/** The file name of an export of `query`'s range. */
export function exportFilename(query: RecentQuery, format: ExportFormat, range: { start: string; end: string }): string {
  const tz = query.tz && query.tz !== "UTC" ? `-${query.tz.replace(/\//g, "_")}` : "";
  return `requests-${range.start}-to-${range.end}${tz}.${format === "csv" ? "csv" : "jsonl"}`;
}

/**
 * The export's lines (each with its line end), every call `query` selects; the first page is read
 * before this returns, so that a bad filter is an error and not a broken stream.
 */
export async function exportRequests(
  identity: AuthenticatedIdentity,
  query: RecentQuery,
  format: ExportFormat,
): Promise<AsyncGenerator<string>> {
  const { cursor: _ignored, limit: _limit, ...filters } = query;
  const first = await recentRequests(identity, { ...filters, limit: PAGE }, PAGE);
  const line = format === "csv" ? (r: RecentRequest) => `${csvLine(r)}\r\n` : (r: RecentRequest) => `${JSON.stringify(restRequest(r))}\n`;
  return (async function* () {
    if (format === "csv") yield `${REQUEST_CSV_COLUMNS.join(",")}\r\n`;
    let page = first;
    for (;;) {
      if (page.items.length) yield page.items.map(line).join("");
      if (!page.nextCursor) return;
      page = await recentRequests(identity, { ...filters, limit: PAGE, cursor: page.nextCursor }, PAGE);
    }
  })();
}
