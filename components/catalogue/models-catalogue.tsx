"use client";
// The models page: every model of the catalogue with the provider that serves it (id and name), type, context size, prices per
// 1M and per 1K tokens, capabilities and availability (with the reason when unavailable); filters,
// a search box and sortable columns. Admins can change a price (effective from now on), enable or
// disable a model, set its fallbacks and add a model served by an OpenAI-compatible provider; a
// usage column shows each model's requests, tokens and cost over a range (from the usage roll-ups,
// `usage.stats`). Talks to the `models.*` tRPC procedures; the first list comes from the server render.
// Below the table, the deployments of the models the configuration file routes (deployments-table.tsx).
import { useMemo, useState, type FormEvent, type ReactNode } from "react";
import { CAPABILITIES, defaultCapability, type ModelType } from "@/lib/catalogue";
import { dateTime, defaultRange } from "@/lib/dates";
import { compact, count } from "@/lib/format";
import { exactDollars, money } from "@/lib/money";
import { EmptyState } from "../shared/empty-state";
import { trpc } from "../shared/trpc-provider";
import { statsInput } from "../usage/stats-query";
import { DeploymentsTable } from "./deployments-table";
import type { RouterInputs, RouterOutputs } from "../wire";
import styles from "./models-catalogue.module.css";

type Model = RouterOutputs["models"]["list"][number];
type SortKey = "default" | "name" | "context" | "input" | "output" | "usage";
type ModelUsage = Pick<RouterOutputs["usage"]["stats"]["breakdowns"]["model"][number], "requests" | "totalTokens" | "cost">;
const RANGES = [7, 30, 90] as const;
type Sort = { key: SortKey; dir: 1 | -1 };

function comparePrice(a: string, b: string): number {
  return Number(a) - Number(b);
}

function sortModels(models: Model[], sort: Sort, usage: Map<string, ModelUsage>): Model[] {
  if (sort.key === "default") return models;
  const by: Record<Exclude<SortKey, "default">, (a: Model, b: Model) => number> = {
    usage: (a, b) => Number(usage.get(a.id)?.cost ?? 0) - Number(usage.get(b.id)?.cost ?? 0),
    name: (a, b) => a.name.localeCompare(b.name, "en", { numeric: true }),
    context: (a, b) => a.contextWindow - b.contextWindow,
    input: (a, b) => comparePrice(a.pricePerMTok.input, b.pricePerMTok.input),
    output: (a, b) => comparePrice(a.pricePerMTok.output, b.pricePerMTok.output),
  };
  const compare = by[sort.key];
  // Stable: ties keep the server's order (provider, type, name).
  return models
    .map((m, i) => ({ m, i }))
    .sort((x, y) => sort.dir * compare(x.m, y.m) || x.i - y.i)
    .map((x) => x.m);
}

function matches(m: Model, search: string): boolean {
  const q = search.trim().toLowerCase();
  if (!q) return true;
  return [m.id, m.name, m.provider, m.providerName, ...m.aliases, ...m.capabilities].some((s) => s.toLowerCase().includes(q));
}

export function SignInToSeeCatalogue() {
  return (
    <EmptyState title="Sign in to see the catalogue">
      <p>The model catalogue, with prices and availability, is shown to signed-in users.</p>
      <p>
        <a className="button" href="/login?callbackUrl=%2Fmodels">
          Sign in
        </a>
      </p>
    </EmptyState>
  );
}

function SortHeader({
  label,
  sortKey,
  sort,
  setSort,
  numeric,
}: {
  label: ReactNode;
  sortKey: SortKey;
  sort: Sort;
  setSort: (s: Sort) => void;
  numeric?: boolean;
}) {
  const active = sort.key === sortKey;
  return (
    <th aria-sort={active ? (sort.dir === 1 ? "ascending" : "descending") : "none"} className={numeric ? styles.numeric : undefined}>
      <button
        type="button"
        className={styles.sortButton}
        onClick={() =>
          setSort(active ? (sort.dir === 1 ? { key: sortKey, dir: -1 } : { key: "default", dir: 1 }) : { key: sortKey, dir: 1 })
        }
      >
        {label}
        <span aria-hidden className={styles.sortMark}>
          {active ? (sort.dir === 1 ? "▲" : "▼") : ""}
        </span>
      </button>
    </th>
  );
}

function Price({ perMTok, per1K }: { perMTok: string | null; per1K: string | null }) {
  if (perMTok === null || per1K === null) return <span className="muted">—</span>;
  return (
    <>
      <span className={styles.price}>{exactDollars(perMTok)}</span>
      <span className={styles.sub}>{exactDollars(per1K)} / 1K</span>
    </>
  );
}

function Availability({ model }: { model: Model }) {
  return (
    <span className={styles.availability} data-available={model.available}>
      <span className={styles.dot} aria-hidden />
      <span>
        {model.available ? "Available" : model.enabled ? "Unavailable" : "Disabled"}
        {model.unavailableReason ? <span className={styles.reason}>{model.unavailableReason}</span> : null}
      </span>
    </span>
  );
}

type TierInput = NonNullable<NonNullable<RouterInputs["models"]["update"]["patch"]["price"]>["tiers"]>[number];

/** An admin's editor for one model: price (effective from now on), enabled, fallbacks. */
function ModelEditor({ model, onClose }: { model: Model; onClose: () => void }) {
  const utils = trpc.useUtils();
  const detail = trpc.models.get.useQuery({ id: model.id });
  const [tiersError, setTiersError] = useState<string | null>(null);
  const update = trpc.models.update.useMutation({
    onSuccess: async () => {
      await Promise.all([utils.models.list.invalidate(), utils.models.get.invalidate({ id: model.id })]);
      onClose();
    },
  });

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const text = (name: string) => String(form.get(name) ?? "").trim();
    const optional = (name: string) => (text(name) === "" ? null : text(name));
    let tiers: TierInput[];
    try {
      const parsed: unknown = text("tiers") === "" ? [] : JSON.parse(text("tiers"));
      if (!Array.isArray(parsed)) throw new Error("not a list");
      tiers = parsed as TierInput[];
    } catch {
      setTiersError('Tiers: a JSON list of tiers, e.g. [{"aboveInputTokens": 200000, "input": "6"}]');
      return;
    }
    setTiersError(null);
    const price = {
      input: text("input"),
      output: text("output"),
      cachedInput: optional("cachedInput"),
      cacheWrite: optional("cacheWrite"),
      cacheWrite1h: optional("cacheWrite1h"),
      reasoning: optional("reasoning"),
      audioInput: optional("audioInput"),
      imageInput: optional("imageInput"),
      tiers,
    };
    const fallbacks = text("fallbacks")
      .split(/[\s,]+/)
      .filter(Boolean);
    update.mutate({ id: model.id, patch: { price, enabled: form.get("enabled") === "on", fallbacks } });
  }

  const p = model.pricePerMTok;
  return (
    <form className={styles.editor} onSubmit={submit} aria-label={`Edit ${model.id}`}>
      <p className="muted">
        Prices are USD per 1M tokens. A new price holds from the moment you save; calls made before keep the cost they were charged.
      </p>
      <div className="form-row">
        <label className="field">
          <span className="field-label">Input</span>
          <input name="input" defaultValue={p.input} required inputMode="decimal" />
        </label>
        <label className="field">
          <span className="field-label">Output</span>
          <input name="output" defaultValue={p.output} required inputMode="decimal" />
        </label>
        <label className="field">
          <span className="field-label">Cached input</span>
          <input name="cachedInput" defaultValue={p.cachedInput ?? ""} inputMode="decimal" placeholder="as input" />
        </label>
        <label className="field">
          <span className="field-label">Cache write</span>
          <input name="cacheWrite" defaultValue={p.cacheWrite ?? ""} inputMode="decimal" placeholder="as input" />
        </label>
      </div>
      <div className="form-row">
        <label className="field">
          <span className="field-label">1-hour cache write</span>
          <input name="cacheWrite1h" defaultValue={p.cacheWrite1h ?? ""} inputMode="decimal" placeholder="as cache write" />
        </label>
        <label className="field">
          <span className="field-label">Reasoning</span>
          <input name="reasoning" defaultValue={p.reasoning ?? ""} inputMode="decimal" placeholder="as output" />
        </label>
        <label className="field">
          <span className="field-label">Audio input</span>
          <input name="audioInput" defaultValue={p.audioInput ?? ""} inputMode="decimal" placeholder="as input" />
        </label>
        <label className="field">
          <span className="field-label">Image input</span>
          <input name="imageInput" defaultValue={p.imageInput ?? ""} inputMode="decimal" placeholder="as input" />
        </label>
      </div>
      <label className="field">
        <span className="field-label">
          Tiers (JSON): rates for the whole call on a service tier (serviceTier) and/or above an input size (aboveInputTokens)
        </span>
        <textarea
          name="tiers"
          rows={3}
          defaultValue={p.tiers.length ? JSON.stringify(p.tiers.map(({ label: _label, ...t }) => t)) : ""}
          placeholder='[{"aboveInputTokens": 200000, "input": "6", "output": "22.5"}, {"serviceTier": "priority", "input": "5"}]'
        />
      </label>
      {tiersError ? (
        <p className="form-error" role="alert">
          {tiersError}
        </p>
      ) : null}
      <div className="form-row">
        <label className="field">
          <span className="field-label">Fallbacks (model ids, in order)</span>
          <input name="fallbacks" defaultValue={model.fallbacks.join(", ")} placeholder="e.g. gpt-4o-mini, claude-3-5-haiku-latest" />
        </label>
        <label className="check">
          <input type="checkbox" name="enabled" defaultChecked={model.enabled} /> Enabled
        </label>
      </div>
      {update.error ? (
        <p className="form-error" role="alert">
          {update.error.data?.zodError?.[0]
            ? `${update.error.data.zodError[0].field}: ${update.error.data.zodError[0].message}`
            : update.error.message}
        </p>
      ) : null}
      <div className="row-actions">
        <button type="submit" className="button" disabled={update.isPending}>
          {update.isPending ? "Saving…" : "Save"}
        </button>
        <button type="button" className="button button-secondary" onClick={onClose}>
          Cancel
        </button>
      </div>
      {detail.data && detail.data.priceHistory.length > 0 ? (
        <div className={styles.history}>
          <span className="field-label">Price history (per 1M tokens)</span>
          <ul>
            {[...detail.data.priceHistory].reverse().map((h) => (
              <li key={new Date(h.effectiveFrom).toISOString() + h.input + h.output}>
                from {dateTime(h.effectiveFrom)}: input {exactDollars(h.input)}, output {exactDollars(h.output)}
                {h.cachedInput !== null ? `, cached ${exactDollars(h.cachedInput)}` : ""}
                {h.cacheWrite !== null ? `, cache write ${exactDollars(h.cacheWrite)}` : ""}
                {h.cacheWrite1h !== null ? ` (1 h ${exactDollars(h.cacheWrite1h)})` : ""}
                {h.tiers.length ? `, tiers ${h.tiers.map((t) => t.label).join(", ")}` : ""} <span className="muted">({h.changedBy})</span>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </form>
  );
}

export function ModelsCatalogue({ initialModels, isAdmin }: { initialModels: Model[]; isAdmin: boolean }) {
  const list = trpc.models.list.useQuery(undefined, { initialData: initialModels });
  const [provider, setProvider] = useState("all");
  const [type, setType] = useState("all");
  const [search, setSearch] = useState("");
  const [availableOnly, setAvailableOnly] = useState(false);
  const [sort, setSort] = useState<Sort>({ key: "default", dir: 1 });
  const [editing, setEditing] = useState<string | null>(null);
  const [days, setDays] = useState<(typeof RANGES)[number]>(30);
  const [adding, setAdding] = useState(false);
  // The range's usage per model, from the roll-ups (a user sees their own usage, an admin everyone's).
  const stats = trpc.usage.stats.useQuery(statsInput(defaultRange("UTC", days)), { retry: false });
  const usage = useMemo(
    () =>
      new Map<string, ModelUsage>(
        (stats.data?.breakdowns.model ?? []).map((r) => [r.value, { requests: r.requests, totalTokens: r.totalTokens, cost: r.cost }]),
      ),
    [stats.data],
  );

  const models = list.data ?? initialModels;
  const providers = useMemo(() => [...new Map(models.map((m) => [m.provider, m.providerName])).entries()], [models]);
  const shown = useMemo(
    () =>
      sortModels(
        models.filter(
          (m) =>
            (provider === "all" || m.provider === provider) &&
            (type === "all" || m.type === type) &&
            (!availableOnly || m.available) &&
            matches(m, search),
        ),
        sort,
        usage,
      ),
    [models, provider, type, availableOnly, search, sort, usage],
  );

  if (list.error?.data?.code === "UNAUTHORIZED") return <SignInToSeeCatalogue />;

  const availableCount = models.filter((m) => m.available).length;
  const columns = isAdmin ? 8 : 7;
  return (
    <>
      <div className={styles.filters} role="search">
        <label className="field">
          <span className="field-label">Search</span>
          <input
            type="search"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            placeholder="id, name, alias or capability"
            aria-label="Search models"
          />
        </label>
        <label className="field">
          <span className="field-label">Provider</span>
          <select value={provider} onChange={(e) => setProvider(e.target.value)} aria-label="Provider">
            <option value="all">All providers</option>
            {providers.map(([id, name]) => (
              <option key={id} value={id}>
                {name === id ? id : `${name} (${id})`}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span className="field-label">Type</span>
          <select value={type} onChange={(e) => setType(e.target.value)} aria-label="Type">
            <option value="all">All types</option>
            <option value="chat">Chat</option>
            <option value="embedding">Embedding</option>
          </select>
        </label>
        <label className="field">
          <span className="field-label">Usage over</span>
          <select value={days} onChange={(e) => setDays(Number(e.target.value) as (typeof RANGES)[number])} aria-label="Usage range">
            {RANGES.map((d) => (
              <option key={d} value={d}>
                Last {d} days
              </option>
            ))}
          </select>
        </label>
        <label className="check">
          <input type="checkbox" checked={availableOnly} onChange={(e) => setAvailableOnly(e.target.checked)} /> Available only
        </label>
      </div>
      {isAdmin ? (
        adding ? (
          <AddModelForm models={models} onClose={() => setAdding(false)} />
        ) : (
          <p>
            <button type="button" className="button button-secondary" onClick={() => setAdding(true)}>
              Add a model
            </button>
          </p>
        )
      ) : null}
      <p className={styles.summary} data-testid="models-summary">
        {shown.length === models.length ? `${models.length} models` : `${shown.length} of ${models.length} models`}, {availableCount}{" "}
        available
        {list.error ? <span className="form-error"> · could not refresh: {list.error.message}</span> : null}
      </p>
      <div className="table-wrap">
        <table className={`table ${styles.table}`} aria-label="Models">
          <thead>
            <tr>
              <SortHeader label="Model" sortKey="name" sort={sort} setSort={setSort} />
              <SortHeader label="Context" sortKey="context" sort={sort} setSort={setSort} numeric />
              <SortHeader label="Input / 1M" sortKey="input" sort={sort} setSort={setSort} numeric />
              <SortHeader label="Output / 1M" sortKey="output" sort={sort} setSort={setSort} numeric />
              <th className={styles.numeric}>Cached in / 1M</th>
              <th>Status</th>
              <SortHeader label={`Usage (${days} days)`} sortKey="usage" sort={sort} setSort={setSort} numeric />
              {isAdmin ? <th aria-label="Actions" /> : null}
            </tr>
          </thead>
          <tbody>
            {shown.map((m) => (
              <ModelRows
                key={m.id}
                model={m}
                usage={stats.data ? (usage.get(m.id) ?? { requests: 0, totalTokens: 0, cost: "0" }) : undefined}
                isAdmin={isAdmin}
                columns={columns}
                editing={editing === m.id}
                setEditing={setEditing}
              />
            ))}
            {shown.length === 0 ? (
              <tr>
                <td colSpan={columns} className="muted">
                  No model matches these filters.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
      <DeploymentsTable isAdmin={isAdmin} />
    </>
  );
}

function ModelRows({
  model: m,
  usage,
  isAdmin,
  columns,
  editing,
  setEditing,
}: {
  model: Model;
  usage: ModelUsage | undefined;
  isAdmin: boolean;
  columns: number;
  editing: boolean;
  setEditing: (id: string | null) => void;
}) {
  return (
    <>
      <tr data-model={m.id} data-available={m.available}>
        <td className={styles.model}>
          <span className={styles.name}>{m.name}</span>
          <span className={styles.sub}>
            <code className={styles.id}>{m.id}</code> ·{" "}
            <span data-testid="model-provider" title={`served by the provider ${m.provider}`}>
              {m.providerName} <code className={styles.id}>{m.provider}</code>
            </span>{" "}
            · {m.type}
            {m.embeddingDimensions !== null ? `, ${m.embeddingDimensions} dimensions` : ""}
          </span>
          {m.aliases.length ? <span className={styles.sub}>also {m.aliases.join(", ")}</span> : null}
          {m.fallbacks.length ? <span className={styles.sub}>falls back to {m.fallbacks.join(", ")}</span> : null}
          {m.source === "admin" ? <span className={styles.sub}>edited by an admin</span> : null}
          <span className={styles.capabilities} aria-label="Capabilities">
            {m.capabilities.map((c) => (
              <span key={c} className={styles.capability}>
                {c}
              </span>
            ))}
          </span>
        </td>
        <td className={styles.numeric}>
          {count(m.contextWindow)}
          {m.maxOutputTokens !== null ? <span className={styles.sub}>{count(m.maxOutputTokens)} out</span> : null}
        </td>
        <td className={styles.numeric}>
          <Price perMTok={m.pricePerMTok.input} per1K={m.pricePer1K.input} />
        </td>
        <td className={styles.numeric}>
          {m.type === "embedding" && m.pricePerMTok.output === "0" ? (
            <span className="muted">—</span>
          ) : (
            <Price perMTok={m.pricePerMTok.output} per1K={m.pricePer1K.output} />
          )}
        </td>
        <td className={styles.numeric}>
          <Price perMTok={m.pricePerMTok.cachedInput} per1K={m.pricePer1K.cachedInput} />
        </td>
        <td className={styles.status}>
          <Availability model={m} />
        </td>
        <td className={`${styles.numeric} ${styles.usage}`} data-testid="model-usage">
          {usage === undefined ? (
            <span className="muted">—</span>
          ) : (
            <>
              <span title={usage.cost}>{money(usage.cost)}</span>
              <span className={styles.sub}>
                <span className={styles.nowrap}>
                  {count(usage.requests)} {usage.requests === 1 ? "request" : "requests"},
                </span>{" "}
                <span className={styles.nowrap}>{compact(usage.totalTokens)} tokens</span>
              </span>
            </>
          )}
        </td>
        {isAdmin ? (
          <td>
            <button type="button" className="link-button" onClick={() => setEditing(editing ? null : m.id)} aria-expanded={editing}>
              {editing ? "Close" : "Edit"}
            </button>
          </td>
        ) : null}
      </tr>
      {editing ? (
        <tr className={styles.editorRow}>
          <td colSpan={columns}>
            <ModelEditor model={m} onClose={() => setEditing(null)} />
          </td>
        </tr>
      ) : null}
    </>
  );
}

/** An admin adds a model served by an OpenAI-compatible provider (OPENAI_COMPATIBLE_PROVIDERS, or OpenAI's base URL). */
function AddModelForm({ models, onClose }: { models: Model[]; onClose: () => void }) {
  const utils = trpc.useUtils();
  const providers = trpc.models.providers.useQuery();
  const [type, setType] = useState<ModelType>("chat");
  const create = trpc.models.create.useMutation({
    onSuccess: async () => {
      await utils.models.list.invalidate();
      onClose();
    },
  });
  const compatible = (providers.data ?? []).filter((p) => p.openAICompatible);

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const text = (name: string) => String(form.get(name) ?? "").trim();
    const int = (name: string) => (text(name) === "" ? null : Number(text(name)));
    const capabilities = CAPABILITIES.filter((c) => form.get(`cap-${c}`));
    create.mutate({
      model: {
        id: text("id"),
        name: text("name") || text("id"),
        provider: text("provider"),
        type,
        contextWindow: int("contextWindow") ?? 0,
        maxOutputTokens: type === "embedding" ? null : int("maxOutputTokens"),
        price: { input: text("input") || "0", output: type === "embedding" ? "0" : text("output") || "0" },
        capabilities: capabilities.length ? capabilities : [defaultCapability(type)],
        ...(type === "embedding" ? { embeddingDimensions: int("dimensions") ?? 0 } : {}),
      },
      fallbacks: text("fallbacks")
        .split(/[\s,]+/)
        .filter(Boolean),
    });
  }

  const issue = create.error?.data?.zodError?.[0];
  return (
    <form className={`panel ${styles.editor}`} onSubmit={submit} aria-label="Add a model">
      <h2>Add a model</h2>
      <p className="muted">
        A model served by an OpenAI-compatible provider: one of <code>OPENAI_COMPATIBLE_PROVIDERS</code>, or OpenAI itself (whose{" "}
        <code>OPENAI_BASE_URL</code> may point at any compatible server). Prices are USD per 1M tokens, from now on.
      </p>
      <div className="form-row">
        <label className="field">
          <span className="field-label">Model id</span>
          <input name="id" required maxLength={128} placeholder="llama3.1:8b" />
        </label>
        <label className="field">
          <span className="field-label">Display name</span>
          <input name="name" maxLength={200} placeholder="Llama 3.1 8B" />
        </label>
        <label className="field">
          <span className="field-label">Served by</span>
          <select name="provider" required aria-label="Served by">
            {compatible.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name} ({p.id}){p.available ? "" : " — not configured"}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span className="field-label">Type</span>
          <select value={type} onChange={(e) => setType(e.target.value as ModelType)} aria-label="Model type">
            <option value="chat">Chat</option>
            <option value="embedding">Embedding</option>
          </select>
        </label>
      </div>
      <div className="form-row">
        <label className="field">
          <span className="field-label">Context window (tokens)</span>
          <input name="contextWindow" required inputMode="numeric" placeholder="131072" />
        </label>
        {type === "chat" ? (
          <label className="field">
            <span className="field-label">Max output tokens</span>
            <input name="maxOutputTokens" inputMode="numeric" placeholder="optional" />
          </label>
        ) : (
          <label className="field">
            <span className="field-label">Dimensions</span>
            <input name="dimensions" required inputMode="numeric" placeholder="768" />
          </label>
        )}
        <label className="field">
          <span className="field-label">Input price / 1M</span>
          <input name="input" inputMode="decimal" placeholder="0" />
        </label>
        {type === "chat" ? (
          <label className="field">
            <span className="field-label">Output price / 1M</span>
            <input name="output" inputMode="decimal" placeholder="0" />
          </label>
        ) : null}
      </div>
      <fieldset className="scopes">
        <legend className="field-label">Capabilities</legend>
        {CAPABILITIES.map((c) => (
          <label key={c} className="check">
            <input type="checkbox" name={`cap-${c}`} defaultChecked={c === defaultCapability(type)} /> {c}
          </label>
        ))}
      </fieldset>
      <label className="field">
        <span className="field-label">Fallbacks (model ids, in order)</span>
        <input name="fallbacks" placeholder={models.find((m) => m.available && m.type === type)?.id ?? ""} />
      </label>
      {create.error ? (
        <p className="form-error" role="alert">
          {issue ? `${issue.field}: ${issue.message}` : create.error.message}
        </p>
      ) : null}
      <div className="row-actions">
        <button type="submit" className="button" disabled={create.isPending || compatible.length === 0}>
          {create.isPending ? "Adding…" : "Add model"}
        </button>
        <button type="button" className="button button-secondary" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}
