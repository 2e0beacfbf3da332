"use client";
// The Requests page: the caller's calls (an admin's: everyone's), newest first, page by page by
// cursor (tRPC usage.recent, the twin of GET /v1/llm/requests), filtered by range, model, status,
// tag, end user, session, deployment, latency and cost ranges; the same filtered list downloads as
// CSV or JSON lines (GET /v1/llm/requests/export); a row opens the call in full (usage.request): identity, attribution
// and metadata, tokens, the cost by kind, latency and time to first token, the deployment and the
// number of provider calls it took.
import { useState } from "react";
import styles from "./usage-dashboard.module.css";
import { defaultRange } from "@/lib/dates";
import { count, ms } from "@/lib/format";
import { money } from "@/lib/money";
import { trpc } from "../shared/trpc-provider";
import type { RouterInputs } from "../wire";

type RecentInput = RouterInputs["usage"]["recent"];
const STATUSES = ["success", "error", "cached"] as const;
type TextFilter = "model" | "tag" | "endUser" | "session" | "deployment";
/** The parts of a call's cost (usage.request costBreakdown), as the detail lists them. */
const COST_PART_LABELS = [
  ["input", "Input"],
  ["cachedInput", "Cache reads"],
  ["cacheWrite5m", "Cache writes (5 min)"],
  ["cacheWrite1h", "Cache writes (1 h)"],
  ["audioInput", "Audio input"],
  ["imageInput", "Image input"],
  ["output", "Output"],
  ["reasoning", "Reasoning"],
] as const;
const TEXT_FILTERS: { key: TextFilter; label: string; placeholder: string }[] = [
  { key: "model", label: "Model", placeholder: "any model" },
  { key: "tag", label: "Tag", placeholder: "any tag" },
  { key: "endUser", label: "End user", placeholder: "any end user" },
  { key: "session", label: "Session", placeholder: "any session" },
  { key: "deployment", label: "Deployment", placeholder: "any deployment" },
];
type RangeFilter = "minLatencyMs" | "maxLatencyMs" | "minCost" | "maxCost";
const RANGE_FILTERS: { key: RangeFilter; label: string; placeholder: string }[] = [
  { key: "minLatencyMs", label: "Latency from (ms)", placeholder: "0" },
  { key: "maxLatencyMs", label: "Latency to (ms)", placeholder: "any" },
  { key: "minCost", label: "Cost from (USD)", placeholder: "0" },
  { key: "maxCost", label: "Cost to (USD)", placeholder: "any" },
];
/** The REST names of the list's filters (GET /v1/llm/requests/export). */
const REST_NAMES: Record<string, string> = {
  start: "start_date",
  end: "end_date",
  endUser: "end_user",
  minLatencyMs: "min_latency_ms",
  maxLatencyMs: "max_latency_ms",
  minCost: "min_cost",
  maxCost: "max_cost",
};

function exportHref(input: RecentInput, format: "csv" | "jsonl"): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(input)) if (k !== "limit" && v !== undefined && v !== "") q.set(REST_NAMES[k] ?? k, String(v));
  q.set("format", format);
  return `/v1/llm/requests/export?${q}`;
}

type ChatTurn = { role: string; content: string; toolCalls?: { name: string; arguments: string }[] };

/** The stored request's messages and the answer (or error), as chat turns; null when no body was stored. */
function chatOf(body: unknown): { turns: ChatTurn[]; answer: ChatTurn | null; error: string | null } | null {
  if (!body || typeof body !== "object") return null;
  const { request, response } = body as { request?: { messages?: unknown }; response?: Record<string, unknown> };
  const messages = Array.isArray(request?.messages) ? (request.messages as ChatTurn[]) : [];
  const turns = messages.map((m) => ({ role: String(m.role), content: String(m.content ?? ""), toolCalls: m.toolCalls }));
  const error =
    response && typeof response.error === "object" && response.error ? String((response.error as { message?: unknown }).message) : null;
  const answer =
    response && typeof response.text === "string"
      ? { role: "assistant", content: response.text, toolCalls: (response.toolCalls as ChatTurn["toolCalls"]) ?? [] }
      : null;
  return { turns, answer, error };
}

function Chat({ body }: { body: unknown }) {
  const chat = chatOf(body);
  if (!chat) return <p className="muted">Not stored (bodies are logged only for the keys and requests that ask).</p>;
  const turn = (t: ChatTurn, i: number, answer = false) => (
    <li key={i} className={styles.chatTurn} data-role={t.role} aria-label={answer ? "Answer" : `${t.role} message`}>
      <span className="pill">{answer ? "answer" : t.role}</span>
      <pre className={styles.metadata}>{t.content}</pre>
      {t.toolCalls?.map((c, j) => (
        <pre key={j} className={styles.metadata}>
          {c.name}({c.arguments})
        </pre>
      ))}
    </li>
  );
  return (
    <ol className={styles.chat} aria-label="Conversation">
      {chat.turns.map((t, i) => turn(t, i))}
      {chat.answer ? turn(chat.answer, chat.turns.length, true) : null}
      {chat.error ? (
        <li className={styles.chatTurn} data-role="error" aria-label="Error">
          <span className="pill">error</span> {chat.error}
        </li>
      ) : null}
    </ol>
  );
}

/** A session's calls in order with their total (usage.session, GET /v1/llm/sessions/{id}). */
function SessionCalls({ session, tz, onOpen }: { session: string; tz: string; onOpen: (id: string) => void }) {
  const view = trpc.usage.session.useQuery({ session });
  const s = view.data;
  return (
    <section className={styles.section} aria-label="Session">
      <h2>Session {session}</h2>
      {view.error ? (
        <p className="form-error" role="alert">
          Could not load the session: {view.error.message}
        </p>
      ) : !s ? (
        <p className="muted">Loading…</p>
      ) : (
        <>
          <p data-testid="session-total">
            {count(s.calls)} call{s.calls === 1 ? "" : "s"}, {money(s.cost)} in all
            {s.items.length < s.calls ? ` (the first ${count(s.items.length)} listed)` : ""}
          </p>
          <ol className={styles.chat} aria-label="Session calls">
            {s.items.map((r) => (
              <li key={r.id}>
                <button type="button" className="link-button" onClick={() => onOpen(r.id)}>
                  {new Date(r.createdAt).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium", timeZone: tz })}
                </button>{" "}
                {r.model} · {r.status} · {count(r.inputTokens + r.outputTokens)} tokens · <span title={r.cost}>{money(r.cost)}</span>
              </li>
            ))}
          </ol>
        </>
      )}
    </section>
  );
}

function RequestDetail({ id, tz, onClose }: { id: string; tz: string; onClose: () => void }) {
  const detail = trpc.usage.request.useQuery({ id });
  const r = detail.data;
  return (
    <section className={styles.section} aria-label="Request detail">
      <h2>
        Request {id}{" "}
        <button type="button" className="button button-secondary" onClick={onClose}>
          Close
        </button>
      </h2>
      {detail.error ? (
        <p className="form-error" role="alert">
          Could not load the request: {detail.error.message}
        </p>
      ) : !r ? (
        <p className="muted">Loading…</p>
      ) : (
        <dl className={styles.detail}>
          <dt>Time</dt>
          <dd>{new Date(r.createdAt).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium", timeZone: tz })}</dd>
          <dt>Request id</dt>
          <dd>{r.requestId ?? "—"}</dd>
          <dt>Model</dt>
          <dd>
            {r.model} ({r.provider}){r.stream ? " · streamed" : ""}
          </dd>
          <dt>Endpoint</dt>
          <dd>{r.endpoint}</dd>
          <dt>Key / user</dt>
          <dd>
            {r.apiKey ?? "no key"} / {r.user ?? "no user"}
          </dd>
          <dt>Status</dt>
          <dd>
            {r.status}
            {r.errorCode ? ` (${r.errorCode})` : ""}
          </dd>
          <dt>Deployment and attempts</dt>
          <dd>
            {r.deployment ?? "—"}
            {r.attempts !== null ? ` · ${count(r.attempts)} provider call${r.attempts === 1 ? "" : "s"}` : ""}
          </dd>
          <dt>Tags</dt>
          <dd>
            {r.tags.length
              ? r.tags.map((t) => (
                  <span key={t} className="pill">
                    {t}
                  </span>
                ))
              : "—"}
          </dd>
          <dt>End user</dt>
          <dd>{r.endUser ?? "—"}</dd>
          <dt>Session</dt>
          <dd>{r.session ?? "—"}</dd>
          <dt>Metadata</dt>
          <dd>{r.metadata ? <pre className={styles.metadata}>{JSON.stringify(r.metadata, null, 2)}</pre> : "—"}</dd>
          <dt>Tokens</dt>
          <dd>
            {count(r.inputTokens)} in ({count(r.cachedInputTokens)} cached, {count(r.cacheWriteTokens)} written to the cache
            {r.cacheWrite1hTokens ? ` of which ${count(r.cacheWrite1hTokens)} for 1 hour` : ""}
            {r.audioInputTokens ? `, ${count(r.audioInputTokens)} audio` : ""}
            {r.imageInputTokens ? `, ${count(r.imageInputTokens)} image` : ""}), {count(r.outputTokens)} out ({count(r.reasoningTokens)}{" "}
            reasoning)
          </dd>
          <dt>Cost</dt>
          <dd title={r.cost}>
            {money(r.cost)} = {money(r.inputCost)} input + {money(r.outputCost)} output
            {r.priceTier ? ` · billed at the ${r.priceTier} rates` : ""}
            {Number(r.savedCost) !== 0 ? ` · the cache saved ${money(r.savedCost)}` : ""}
          </dd>
          <dt>Cost by kind of token</dt>
          <dd>
            {r.costBreakdown ? (
              <table className={styles.costParts} aria-label="Cost by kind of token">
                <tbody>
                  {COST_PART_LABELS.filter(([k]) => Number(r.costBreakdown![k]) !== 0).map(([k, label]) => (
                    <tr key={k}>
                      <th scope="row">{label}</th>
                      <td title={r.costBreakdown![k]}>{money(r.costBreakdown![k])}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              "— (recorded before the parts were kept)"
            )}
          </dd>
          <dt>Latency</dt>
          <dd>
            {ms(r.latencyMs)}
            {r.ttftMs !== null ? `, first token after ${ms(r.ttftMs)}` : ""}
          </dd>
          <dt>Prompt and answer</dt>
          <dd>
            <Chat body={r.body} />
          </dd>
        </dl>
      )}
    </section>
  );
}

export function RequestsLog({ tz = "UTC" }: { tz?: string }) {
  const [range, setRange] = useState(() => defaultRange(tz, 7));
  const [status, setStatus] = useState("");
  const [text, setText] = useState<Record<TextFilter, string>>({ model: "", tag: "", endUser: "", session: "", deployment: "" });
  const [ranges, setRanges] = useState<Record<RangeFilter, string>>({ minLatencyMs: "", maxLatencyMs: "", minCost: "", maxCost: "" });
  const [open, setOpen] = useState<string | null>(null);

  const input: RecentInput = {
    start: range.start,
    end: range.end,
    tz,
    limit: 50,
    ...(status ? { status: status as (typeof STATUSES)[number] } : {}),
    ...Object.fromEntries(
      Object.entries(text)
        .filter(([, v]) => v.trim())
        .map(([k, v]) => [k, v.trim()]),
    ),
    ...Object.fromEntries(
      Object.entries(ranges)
        .filter(([, v]) => v.trim())
        .map(([k, v]) => [k, k.endsWith("LatencyMs") ? Number(v.trim()) : v.trim()]),
    ),
  };
  const recent = trpc.usage.recent.useInfiniteQuery(input, { getNextPageParam: (last) => last.nextCursor ?? undefined });
  const items = recent.data?.pages.flatMap((p) => p.items) ?? [];

  return (
    <div className={styles.dashboard}>
      <form className={styles.filters} role="search" aria-label="Request filters" onSubmit={(e) => e.preventDefault()}>
        <label className="field">
          <span className="field-label">From</span>
          <input
            type="date"
            value={range.start}
            max={range.end}
            onChange={(e) => e.target.value && setRange((r) => ({ ...r, start: e.target.value }))}
          />
        </label>
        <label className="field">
          <span className="field-label">To</span>
          <input
            type="date"
            value={range.end}
            min={range.start}
            onChange={(e) => e.target.value && setRange((r) => ({ ...r, end: e.target.value }))}
          />
        </label>
        <label className="field">
          <span className="field-label">Status</span>
          <select value={status} onChange={(e) => setStatus(e.target.value)} aria-label="Status">
            <option value="">Any status</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        {TEXT_FILTERS.map((f) => (
          <label key={f.key} className="field">
            <span className="field-label">{f.label}</span>
            <input
              type="search"
              value={text[f.key]}
              placeholder={f.placeholder}
              aria-label={f.label}
              onChange={(e) => setText((t) => ({ ...t, [f.key]: e.target.value }))}
            />
          </label>
        ))}
        {RANGE_FILTERS.map((f) => (
          <label key={f.key} className="field">
            <span className="field-label">{f.label}</span>
            <input
              type="text"
              inputMode="decimal"
              value={ranges[f.key]}
              placeholder={f.placeholder}
              aria-label={f.label}
              size={8}
              onChange={(e) => setRanges((r) => ({ ...r, [f.key]: e.target.value }))}
            />
          </label>
        ))}
        <a className="button button-secondary" href={exportHref(input, "csv")} download>
          Export CSV
        </a>
        <a className="button button-secondary" href={exportHref(input, "jsonl")} download>
          Export JSON lines
        </a>
      </form>
      {text.session.trim() ? <SessionCalls session={text.session.trim()} tz={tz} onOpen={setOpen} /> : null}
      {open ? <RequestDetail id={open} tz={tz} onClose={() => setOpen(null)} /> : null}
      <section className={styles.section} aria-label="Requests">
        {recent.error ? (
          <p className="form-error" role="alert">
            Could not load the requests: {recent.error.message}
          </p>
        ) : recent.isLoading ? (
          <p className="muted">Loading…</p>
        ) : items.length === 0 ? (
          <p className="muted">No requests match these filters.</p>
        ) : (
          <>
            <div className="table-wrap">
              <table className="table" aria-label="Requests">
                <thead>
                  <tr>
                    <th>Time</th>
                    <th>Model</th>
                    <th>Status</th>
                    <th>Tags</th>
                    <th>End user</th>
                    <th>Session</th>
                    <th className={styles.numeric}>Tokens</th>
                    <th className={styles.numeric}>Cost</th>
                    <th className={styles.numeric}>Latency</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((r) => (
                    <tr key={r.id} data-status={r.status} aria-selected={open === r.id}>
                      <td className={styles.time}>
                        <button type="button" className="link-button" onClick={() => setOpen(r.id)} aria-label={`Open request ${r.id}`}>
                          {new Date(r.createdAt).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium", timeZone: tz })}
                        </button>
                      </td>
                      <td className="cell-wrap">
                        {r.model}
                        {r.stream ? <span className="pill">stream</span> : null}
                      </td>
                      <td>
                        <span className={styles.status} data-status={r.status}>
                          {r.status}
                        </span>
                      </td>
                      <td className="cell-wrap">
                        {r.tags.length ? (
                          r.tags.map((t) => (
                            <span key={t} className="pill">
                              {t}
                            </span>
                          ))
                        ) : (
                          <span className="muted">—</span>
                        )}
                      </td>
                      <td className="cell-wrap muted">{r.endUser ?? "—"}</td>
                      <td className="cell-wrap muted">{r.session ?? "—"}</td>
                      <td className={styles.numeric}>{count(r.inputTokens + r.outputTokens)}</td>
                      <td className={styles.numeric} title={r.cost}>
                        {money(r.cost)}
                      </td>
                      <td className={styles.numeric}>{ms(r.latencyMs)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            {recent.hasNextPage ? (
              <button
                type="button"
                className="button button-secondary"
                onClick={() => void recent.fetchNextPage()}
                disabled={recent.isFetchingNextPage}
              >
                {recent.isFetchingNextPage ? "Loading…" : "Load more"}
              </button>
            ) : null}
          </>
        )}
      </section>
    </div>
  );
}
