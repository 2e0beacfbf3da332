"use client";
// The usage home page: cards (spend, requests, tokens, error rate, p50/p95 latency, each against
// the previous range), charts, breakdown tables, the recent requests and a CSV export, for a range
// (7, 30, 90 days or custom) and filters (model, provider, key; user for admins; tag and end user when calls carry them; team for members of one). Everything comes
// from `usage.stats` / `usage.recent` / `usage.exportCsv`; the first stats come from the server
// render.
import { keepPreviousData } from "@tanstack/react-query";
import { useEffect, useState, useSyncExternalStore, type ReactNode } from "react";
import { DailyCostChart, LatencyChart, RequestsByModelChart, TokensChart, type Stats } from "./usage-charts";
import styles from "./usage-dashboard.module.css";
import { browserTimeZone } from "@/lib/dates";
import { compact, count, ms, percent, pointChange, relativeChange, type Change } from "@/lib/format";
import { USAGE_STATUSES, type UsageStatus } from "@/lib/usage";
import { money } from "@/lib/money";
import { statsInput, type FilterName, type StatsInput } from "./stats-query";
import { PRESETS, rangeProblem, viewInput, viewRange, viewToParams, type UsageView } from "./usage-view";
import { trpc } from "../shared/trpc-provider";
import { UsageSavings } from "./usage-savings";

function ChangeNote({ change, label, upIsBad }: { change: Change; label: string; upIsBad?: boolean }) {
  const tone =
    change.direction === "flat" || change.direction === "new"
      ? "neutral"
      : (change.direction === "up") === Boolean(upIsBad)
        ? "bad"
        : "good";
  return (
    <span className={styles.change} data-tone={upIsBad === undefined ? "neutral" : tone}>
      {change.direction === "up" ? "▲ " : change.direction === "down" ? "▼ " : ""}
      {change.text} <span className={styles.changeLabel}>{label}</span>
    </span>
  );
}

function Card({
  testId,
  title,
  value,
  exact,
  detail,
  change,
}: {
  testId: string;
  title: string;
  value: ReactNode;
  exact?: string;
  detail?: ReactNode;
  change?: ReactNode;
}) {
  return (
    <article className={styles.card} data-testid={testId} data-exact={exact} aria-label={title}>
      <h3>{title}</h3>
      <p className={styles.cardValue} title={exact}>
        {value}
      </p>
      {detail ? <p className={styles.cardDetail}>{detail}</p> : null}
      {change ? <p className={styles.cardChange}>{change}</p> : null}
    </article>
  );
}

function Cards({ stats }: { stats: Stats }) {
  const t = stats.totals;
  const p = stats.previous?.totals;
  const vs = `vs previous ${stats.range.days} days`;
  return (
    <section className={styles.cards} aria-label="Summary">
      <Card
        testId="card-spend"
        title="Spend"
        value={money(t.cost)}
        exact={t.cost}
        change={p ? <ChangeNote change={relativeChange(Number(t.cost), Number(p.cost))} label={vs} upIsBad /> : null}
      />
      <Card
        testId="card-requests"
        title="Requests"
        value={count(t.requests)}
        exact={String(t.requests)}
        change={p ? <ChangeNote change={relativeChange(t.requests, p.requests)} label={vs} /> : null}
      />
      <Card
        testId="card-tokens"
        title="Tokens"
        value={compact(t.totalTokens)}
        exact={String(t.totalTokens)}
        detail={`${compact(t.inputTokens)} in (${compact(t.cachedInputTokens)} cached) · ${compact(t.outputTokens)} out`}
        change={p ? <ChangeNote change={relativeChange(t.totalTokens, p.totalTokens)} label={vs} /> : null}
      />
      <Card
        testId="card-errors"
        title="Error rate"
        value={percent(t.errorRate)}
        exact={String(t.errorRate)}
        detail={`${count(t.errors)} failed`}
        change={p ? <ChangeNote change={pointChange(t.errorRate, p.errorRate)} label={vs} upIsBad /> : null}
      />
      <Card
        testId="card-latency"
        title="Latency p50 / p95"
        value={
          // Each figure stays whole; a narrow card puts p95 on a second line rather than cutting it off.
          <>
            <span className={styles.nowrap}>{ms(t.latency.p50)}</span> / <span className={styles.nowrap}>{ms(t.latency.p95)}</span>
          </>
        }
        detail="within 9.1 % (log-scale histogram)"
        change={
          p && p.latency.p50 !== null && t.latency.p50 !== null ? (
            <ChangeNote change={relativeChange(t.latency.p50, p.latency.p50)} label={`p50 ${vs}`} upIsBad />
          ) : null
        }
      />
    </section>
  );
}

function BreakdownTable({ title, rows, total }: { title: string; rows: Stats["breakdowns"]["model"]; total: Stats["totals"] }) {
  if (rows.length === 0) return null;
  return (
    <div className={styles.breakdown}>
      <table className="table" aria-label={`By ${title.toLowerCase()}`}>
        <thead>
          <tr>
            <th>{title}</th>
            <th className={styles.numeric}>Requests</th>
            <th className={styles.numeric}>Errors</th>
            <th className={styles.numeric}>Tokens</th>
            <th className={styles.numeric}>Cost</th>
            <th className={styles.numeric}>Share</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.value}>
              <td className={styles.label}>{r.label}</td>
              <td className={styles.numeric}>{count(r.requests)}</td>
              <td className={styles.numeric}>{count(r.errors)}</td>
              <td className={styles.numeric}>{compact(r.totalTokens)}</td>
              <td className={styles.numeric} title={r.cost}>
                {money(r.cost)}
              </td>
              <td className={styles.numeric}>{Number(total.cost) > 0 ? percent(Number(r.cost) / Number(total.cost), 0) : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function RecentRequests({ input }: { input: Omit<StatsInput, "compare"> }) {
  const recent = trpc.usage.recent.useInfiniteQuery({ ...input, limit: 20 }, { getNextPageParam: (last) => last.nextCursor ?? undefined });
  const items = recent.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <section className={styles.section} aria-label="Recent requests">
      <h2>Recent requests</h2>
      {recent.error ? (
        <p className="form-error" role="alert">
          Could not load recent requests: {recent.error.message}
        </p>
      ) : recent.isLoading ? (
        <p className="muted">Loading…</p>
      ) : items.length === 0 ? (
        <p className="muted">No requests in this range.</p>
      ) : (
        <>
          <div className="table-wrap">
            <table className="table" aria-label="Recent requests">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Model and endpoint</th>
                  <th>Key</th>
                  <th>Status</th>
                  <th className={styles.numeric}>Tokens in → out</th>
                  <th className={styles.numeric}>Cost</th>
                  <th className={styles.numeric}>Latency</th>
                </tr>
              </thead>
              <tbody>
                {items.map((r) => (
                  <tr key={r.id} data-status={r.status}>
                    <td className={styles.time}>
                      {new Date(r.createdAt).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium", timeZone: input.tz })}
                    </td>
                    <td className="cell-wrap">
                      {r.model}
                      {r.stream ? <span className="pill">stream</span> : null}
                      <span className="cell-sub">{r.endpoint}</span>
                    </td>
                    <td className="cell-wrap muted">{r.apiKey ?? "—"}</td>
                    <td className="cell-wrap">
                      <span className={styles.status} data-status={r.status}>
                        {r.status}
                      </span>
                      {r.errorCode ? <span className="cell-sub">{r.errorCode}</span> : null}
                    </td>
                    <td className={styles.numeric}>
                      {count(r.inputTokens)} → {count(r.outputTokens)}
                      {r.cachedInputTokens ? <span className="cell-sub">{count(r.cachedInputTokens)} cached</span> : null}
                    </td>
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
  );
}

function FilterSelect({
  label,
  value,
  onChange,
  options,
  all,
}: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  options: { value: string; label: string }[];
  all: string;
}) {
  return (
    <label className="field">
      <span className="field-label">{label}</span>
      <select value={value} onChange={(e) => onChange(e.target.value)} aria-label={label}>
        <option value="">{all}</option>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </label>
  );
}

// The browser's time zone never changes while the page is open: nothing to subscribe to. Read
// through useSyncExternalStore so the server's render and the first client render agree (undefined).
const noSubscription = () => () => {};

export function UsageDashboard({
  isAdmin,
  initial,
}: {
  isAdmin: boolean;
  /** The view the URL asked for (its custom range as typed, maybe invalid) and the stats of what the server showed for it. */
  initial: { view: UsageView; input: StatsInput; stats: Stats };
}) {
  // `view` is always showable; the date fields edit `draft`, which becomes the view's range once it is valid.
  const firstProblem = initial.view.preset === "custom" ? rangeProblem(initial.view.custom) : null;
  const [view, setView] = useState<UsageView>(() =>
    firstProblem ? { ...initial.view, custom: { start: initial.input.start, end: initial.input.end } } : initial.view,
  );
  const [draft, setDraft] = useState(initial.view.custom);
  const problem = view.preset === "custom" ? rangeProblem(draft) : null;
  const [exportError, setExportError] = useState<string | null>(null);
  const [exporting, setExporting] = useState(false);
  // Known only in the browser: set after hydration so that the server's and the first client render match.
  const localZone = useSyncExternalStore(noSubscription, browserTimeZone, () => undefined);
  const utils = trpc.useUtils();

  // The view lives in the URL: a reload or a shared link shows the same (replaceState: no history entry per click).
  useEffect(() => {
    const query = viewToParams(view).toString();
    const url = `${window.location.pathname}${query ? `?${query}` : ""}`;
    if (url !== `${window.location.pathname}${window.location.search}`) window.history.replaceState(window.history.state, "", url);
  }, [view]);

  const range = viewRange(view)!;
  const input = viewInput(view);
  const unfiltered = statsInput(range);
  const same = (a: StatsInput, b: StatsInput) => JSON.stringify(a) === JSON.stringify(b);
  const stats = trpc.usage.stats.useQuery(input, {
    placeholderData: keepPreviousData,
    initialData: same(input, initial.input) ? initial.stats : undefined,
  });
  // Filter choices come from the unfiltered range (the same query when no filter is set).
  const options = trpc.usage.stats.useQuery(unfiltered, {
    placeholderData: keepPreviousData,
    initialData: same(unfiltered, initial.input) ? initial.stats : undefined,
  });
  const choices = options.data?.breakdowns;
  // A filtered view other than one user, key, tag or end user comes without its tag, end-user and
  // team breakdowns (they read the larger attribution roll-ups): those tables ask for them apart,
  // so the rest of the page does not wait.
  const attribution = trpc.usage.stats.useQuery(
    { ...input, attribution: true },
    { enabled: stats.data !== undefined && !stats.data.attributionIncluded, placeholderData: keepPreviousData },
  );
  // The caller's teams (an admin: every team), for the team filter.
  const teams = trpc.teams.list.useQuery(undefined, { staleTime: 60_000 });
  const filters = view.filters;
  // The statistics take a tag, an end user or a team, one at a time (their roll-up rows keep each on its own): choosing one clears the others.
  const ATTRIBUTION = ["tag", "endUser", "teamId"] as const;
  const set = (k: FilterName) => (v: string) =>
    setView((w) => ({
      ...w,
      filters: {
        ...w.filters,
        ...((ATTRIBUTION as readonly string[]).includes(k)
          ? Object.fromEntries(ATTRIBUTION.filter((a) => a !== k).map((a) => [a, ""]))
          : {}),
        [k]: v,
      },
    }));
  const setDay = (edge: "start" | "end", value: string) => {
    const next = { ...draft, [edge]: value };
    setDraft(next);
    if (!rangeProblem(next)) setView((w) => ({ ...w, custom: next }));
  };
  const { compare: _compare, ...recentInput } = input;

  async function exportCsv() {
    setExportError(null);
    setExporting(true);
    try {
      const { compare: _c, ...csvInput } = input;
      const { filename, csv } = await utils.usage.exportCsv.fetch(csvInput);
      const url = URL.createObjectURL(new Blob([csv], { type: "text/csv;charset=utf-8" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = filename;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      setExportError(e instanceof Error ? e.message : String(e));
    } finally {
      setExporting(false);
    }
  }

  const data = stats.data;
  return (
    <div className={styles.dashboard}>
      <form className={styles.filters} role="search" aria-label="Usage filters" onSubmit={(e) => e.preventDefault()}>
        <div className={styles.presets} role="group" aria-label="Range">
          {PRESETS.map((p) => (
            <button
              key={p}
              type="button"
              className={styles.preset}
              aria-pressed={view.preset === p}
              onClick={() => {
                if (p === "custom") setDraft({ start: range.start, end: range.end });
                setView((w) => ({ ...w, preset: p, custom: p === "custom" ? { start: range.start, end: range.end } : w.custom }));
              }}
            >
              {p === "custom" ? "Custom" : `${p} days`}
            </button>
          ))}
        </div>
        {view.preset === "custom" ? (
          <>
            <label className="field">
              <span className="field-label">From</span>
              <input
                type="date"
                value={draft.start}
                aria-invalid={problem ? true : undefined}
                aria-describedby={problem ? "usage-range-problem" : undefined}
                onChange={(e) => setDay("start", e.target.value)}
              />
            </label>
            <label className="field">
              <span className="field-label">To</span>
              <input
                type="date"
                value={draft.end}
                aria-invalid={problem ? true : undefined}
                aria-describedby={problem ? "usage-range-problem" : undefined}
                onChange={(e) => setDay("end", e.target.value)}
              />
            </label>
          </>
        ) : null}
        <FilterSelect
          label="Model"
          value={filters.model ?? ""}
          onChange={set("model")}
          all="All models"
          options={(choices?.model ?? []).map((m) => ({ value: m.value, label: m.value }))}
        />
        <FilterSelect
          label="Provider"
          value={filters.provider ?? ""}
          onChange={set("provider")}
          all="All providers"
          options={(choices?.provider ?? []).map((m) => ({ value: m.value, label: m.value }))}
        />
        <FilterSelect
          label="Key"
          value={filters.apiKeyId ?? ""}
          onChange={set("apiKeyId")}
          all="All keys"
          options={(choices?.apiKey ?? []).filter((k) => k.value).map((k) => ({ value: k.value, label: k.label }))}
        />
        {isAdmin ? (
          <FilterSelect
            label="User"
            value={filters.userId ?? ""}
            onChange={set("userId")}
            all="All users"
            options={(choices?.user ?? []).filter((u) => u.value).map((u) => ({ value: u.value, label: u.label }))}
          />
        ) : null}
        {(choices?.tag.length ?? 0) > 0 || filters.tag ? (
          <FilterSelect
            label="Tag"
            value={filters.tag ?? ""}
            onChange={set("tag")}
            all="All tags"
            options={(choices?.tag ?? []).map((t) => ({ value: t.value, label: t.value }))}
          />
        ) : null}
        {(choices?.endUser.length ?? 0) > 0 || filters.endUser ? (
          <FilterSelect
            label="End user"
            value={filters.endUser ?? ""}
            onChange={set("endUser")}
            all="All end users"
            options={(choices?.endUser ?? []).map((u) => ({ value: u.value, label: u.value }))}
          />
        ) : null}
        {(teams.data?.length ?? 0) > 0 || filters.teamId ? (
          <FilterSelect
            label="Team"
            value={filters.teamId ?? ""}
            onChange={set("teamId")}
            all={isAdmin ? "All teams" : "My own usage"}
            options={(teams.data ?? []).map((t) => ({ value: t.id, label: t.name }))}
          />
        ) : null}
        <label className="field">
          <span className="field-label">Status</span>
          <select
            value={view.status}
            onChange={(e) => setView((w) => ({ ...w, status: e.target.value as UsageStatus | "" }))}
            aria-label="Status"
          >
            <option value="">Any status</option>
            {USAGE_STATUSES.map((st) => (
              <option key={st} value={st}>
                {st}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span className="field-label">Days in</span>
          <select value={view.tz} onChange={(e) => setView((w) => ({ ...w, tz: e.target.value }))} aria-label="Days in">
            <option value="UTC">UTC</option>
            {localZone && localZone !== view.tz ? <option value={localZone}>{localZone}</option> : null}
            {view.tz !== "UTC" ? <option value={view.tz}>{view.tz}</option> : null}
          </select>
        </label>
        <button type="button" className="button button-secondary" onClick={() => void exportCsv()} disabled={exporting || !data}>
          {exporting ? "Exporting…" : "Export CSV"}
        </button>
      </form>
      {problem ? (
        <p className="form-error" role="alert" id="usage-range-problem" data-testid="usage-range-problem">
          {problem}. Still showing {range.start} to {range.end}.
        </p>
      ) : null}
      {exportError ? (
        <p className="form-error" role="alert">
          The export failed: {exportError}
        </p>
      ) : null}

      {stats.error && !data ? (
        <section className={styles.problem} role="alert" data-testid="usage-error">
          <h2>Could not load usage</h2>
          <p>{stats.error.message}</p>
          <button type="button" className="button" onClick={() => void stats.refetch()}>
            Try again
          </button>
        </section>
      ) : !data ? (
        <p className={styles.loading} aria-busy="true" data-testid="usage-loading">
          Loading usage…
        </p>
      ) : (
        <div
          className={styles.body}
          aria-busy={stats.isFetching}
          data-testid="usage-dashboard"
          data-range={`${data.range.start}..${data.range.end}`}
        >
          <p className={styles.rangeNote}>
            {data.range.start} to {data.range.end} ({data.range.tz}){stats.isFetching ? <span className="muted"> · updating…</span> : null}
            {stats.error ? <span className="form-error"> · {stats.error.message}</span> : null}
          </p>
          <Cards stats={data} />
          <div className={styles.charts}>
            <DailyCostChart stats={data} />
            <RequestsByModelChart stats={data} />
            <TokensChart stats={data} />
            <LatencyChart stats={data} />
          </div>
          <section className={styles.section} aria-label="Breakdowns">
            <h2>Breakdowns</h2>
            <div className={styles.breakdowns}>
              <BreakdownTable title="Model" rows={data.breakdowns.model} total={data.totals} />
              <BreakdownTable title="Provider" rows={data.breakdowns.provider} total={data.totals} />
              <BreakdownTable title="Key" rows={data.breakdowns.apiKey} total={data.totals} />
              {isAdmin ? <BreakdownTable title="User" rows={data.breakdowns.user} total={data.totals} /> : null}
              <BreakdownTable title="Endpoint" rows={data.breakdowns.endpoint} total={data.totals} />
              <BreakdownTable title="Status" rows={data.breakdowns.status} total={data.totals} />
              {data.breakdowns.deployment.length ? (
                <BreakdownTable title="Deployment" rows={data.breakdowns.deployment} total={data.totals} />
              ) : null}
              {/* A call with several tags counts under each of them: the shares may add up to more than 100 %. */}
              {data.attributionIncluded ? (
                <>
                  <BreakdownTable title="Tag" rows={data.breakdowns.tag} total={data.totals} />
                  <BreakdownTable title="End user" rows={data.breakdowns.endUser} total={data.totals} />
                  {data.breakdowns.team.length ? <BreakdownTable title="Team" rows={data.breakdowns.team} total={data.totals} /> : null}
                </>
              ) : attribution.data?.attributionIncluded ? (
                <>
                  <BreakdownTable title="Tag" rows={attribution.data.breakdowns.tag} total={attribution.data.totals} />
                  <BreakdownTable title="End user" rows={attribution.data.breakdowns.endUser} total={attribution.data.totals} />
                  {attribution.data.breakdowns.team.length ? (
                    <BreakdownTable title="Team" rows={attribution.data.breakdowns.team} total={attribution.data.totals} />
                  ) : null}
                </>
              ) : (
                <p className="muted" aria-busy="true">
                  Loading the tag, end-user and team breakdowns…
                </p>
              )}
            </div>
          </section>
          <UsageSavings input={recentInput} />
          <RecentRequests input={recentInput} />
        </div>
      )}
    </div>
  );
}
