"use client";
// The keys page: a form to create a key (its secret shown once, with a copy button), and the list
// of keys with their own limits (allowed models, requests and tokens per minute, requests in
// flight, budget per day/week/month, expiry), editable in place, and rotate and revoke. Talks to the `keys.*` tRPC procedures; the first list comes
// from the server render.
import { useRef, useState, type FormEvent, type ReactNode } from "react";
import { BUDGET_PERIODS, tiersFor, USER_SCOPES, type BudgetPeriod, type Scope, type Tier } from "@/lib/access";
import { dateTime } from "@/lib/dates";
import { CodeBlock } from "../shared/code-block";
import { EmptyState, Step } from "../shared/empty-state";
import { Origin } from "../shared/origin";
import { trpc } from "../shared/trpc-provider";
import type { RouterOutputs } from "../wire";

type ApiKey = RouterOutputs["keys"]["list"][number];

/** A whole number from a form field: undefined when blank (create) or null (update: removes the limit). */
function count(form: FormData, name: string, blank: null | undefined): number | null | undefined {
  const s = String(form.get(name) ?? "").trim();
  return s ? Number(s) : blank;
}

/** The allow-list from a comma-separated field. */
function models(form: FormData): string[] {
  return String(form.get("models") ?? "")
    .split(",")
    .map((m) => m.trim())
    .filter(Boolean);
}

/** A date field (YYYY-MM-DD) as the end of that day, UTC. */
function expiry(form: FormData): string | undefined {
  const s = String(form.get("expires") ?? "").trim();
  return s ? `${s}T23:59:59Z` : undefined;
}

/** The server's name of a refused field, as the forms name their inputs. */
const FORM_FIELDS: Record<string, string> = {
  name: "name",
  tier: "tier",
  monthlyBudgetUsd: "budget",
  userEmail: "owner",
  allowedModels: "models",
  rpmLimit: "rpm",
  tpmLimit: "tpm",
  maxParallel: "maxParallel",
  budgetPeriod: "budgetPeriod",
  expiresAt: "expires",
};

/** Which of the form's fields a refusal is about (the AppError's details.field, or the first zod issue's path). */
type Refusal = { field: string | null; message: string } | null;
function refusalOf(error: { message: string; data?: unknown } | null): Refusal {
  if (!error) return null;
  const data = error.data as { details?: { field?: unknown } | null; zodError?: { field: string; message: string }[] | null } | undefined;
  const issue = data?.zodError?.[0];
  const field = typeof data?.details?.field === "string" ? data.details.field : issue?.field;
  const formField = field ? (FORM_FIELDS[field.split(/[.[]/)[0]!] ?? null) : null;
  return { field: formField, message: issue && !data?.details ? `${issue.field}: ${issue.message}` : error.message };
}

/** The refusal's message beside the field it names. */
function FieldError({ name, refusal }: { name: string; refusal: Refusal }) {
  if (refusal?.field !== name) return null;
  return (
    <span className="form-error" role="alert" data-testid={`field-error-${name}`}>
      {refusal.message}
    </span>
  );
}

/** The fields of a key's own limits, shared by the create form and the edit form. */
function LimitFields({ apiKey, refusal = null }: { apiKey?: ApiKey; refusal?: Refusal }) {
  return (
    <div className="form-row">
      <label className="field">
        <span className="field-label">Allowed models (comma-separated; empty: all)</span>
        <input
          name="models"
          defaultValue={apiKey?.allowedModels.join(", ") ?? ""}
          placeholder="gpt-4o-mini, claude-3-5-haiku"
          aria-invalid={refusal?.field === "models" || undefined}
        />
        <FieldError name="models" refusal={refusal} />
      </label>
      <label className="field">
        <span className="field-label">Requests / minute</span>
        <input name="rpm" inputMode="numeric" pattern="\d+" defaultValue={apiKey?.rpmLimit ?? ""} placeholder="none" />
        <FieldError name="rpm" refusal={refusal} />
      </label>
      <label className="field">
        <span className="field-label">Tokens / minute</span>
        <input name="tpm" inputMode="numeric" pattern="\d+" defaultValue={apiKey?.tpmLimit ?? ""} placeholder="none" />
        <FieldError name="tpm" refusal={refusal} />
      </label>
      <label className="field">
        <span className="field-label">Max in flight</span>
        <input name="maxParallel" inputMode="numeric" pattern="\d+" defaultValue={apiKey?.maxParallel ?? ""} placeholder="none" />
        <FieldError name="maxParallel" refusal={refusal} />
      </label>
      <label className="field">
        <span className="field-label">Budget period</span>
        <select name="budgetPeriod" defaultValue={apiKey?.budgetPeriod ?? "month"}>
          {BUDGET_PERIODS.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
        <FieldError name="budgetPeriod" refusal={refusal} />
      </label>
      <label className="field">
        <span className="field-label">Expires (UTC, optional)</span>
        <input name="expires" type="date" defaultValue={apiKey?.expiresAt ? new Date(apiKey.expiresAt).toISOString().slice(0, 10) : ""} />
        <FieldError name="expires" refusal={refusal} />
      </label>
    </div>
  );
}

/** A key's limits in a few words. */
function limitsOf(k: ApiKey): string {
  const parts = [
    k.allowedModels.length ? k.allowedModels.join(", ") : "",
    k.rpmLimit ? `${k.rpmLimit} rpm` : "",
    k.tpmLimit ? `${k.tpmLimit} tpm` : "",
    k.maxParallel ? `${k.maxParallel} in flight` : "",
    k.expiresAt ? `expires ${dateTime(k.expiresAt)}` : "",
  ].filter(Boolean);
  return parts.join("; ");
}

/** Edits a key's budget and limits in place (keys.update). */
function EditLimits({ apiKey, onDone }: { apiKey: ApiKey; onDone: () => void }) {
  const utils = trpc.useUtils();
  const update = trpc.keys.update.useMutation({
    onSuccess: async () => {
      await utils.keys.list.invalidate();
      onDone();
    },
  });
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const budget = String(form.get("budget") ?? "").trim();
    update.mutate({
      id: apiKey.id,
      change: {
        allowedModels: models(form),
        rpmLimit: count(form, "rpm", null),
        tpmLimit: count(form, "tpm", null),
        maxParallel: count(form, "maxParallel", null),
        budgetPeriod: String(form.get("budgetPeriod")) as BudgetPeriod,
        monthlyBudgetUsd: budget ? budget : null,
        expiresAt: expiry(form) ?? null,
      },
    });
  }
  return (
    <form className="panel key-form" onSubmit={submit} aria-label={`Limits of ${apiKey.name}`}>
      <h3>Limits of “{apiKey.name}”</h3>
      <label className="field">
        <span className="field-label">Budget (USD per period; empty: none)</span>
        <input
          name="budget"
          inputMode="decimal"
          pattern="\d+(\.\d{1,6})?"
          defaultValue={apiKey.monthlyBudgetUsd ?? ""}
          placeholder="none"
        />
      </label>
      <LimitFields apiKey={apiKey} />
      {update.error ? (
        <p className="form-error" role="alert">
          {update.error.message}
        </p>
      ) : null}
      <span className="row-actions">
        <button type="submit" className="button" disabled={update.isPending}>
          {update.isPending ? "Saving…" : "Save limits"}
        </button>
        <button type="button" className="button button-secondary" onClick={onDone}>
          Cancel
        </button>
      </span>
    </form>
  );
}

/** The secret of a key just created or rotated: shown this once. */
export function NewSecret({ name, secret, onDone }: { name: string; secret: string; onDone: () => void }) {
  return (
    <section className="new-secret" data-testid="new-key" aria-label="New API key">
      <h2>Copy the key for “{name}” now</h2>
      <p>It is shown only this once; the service keeps only a hash of it. Lost it? Rotate the key to get a new one.</p>
      <CodeBlock label="The new API key">{secret}</CodeBlock>
      <button type="button" className="button button-secondary" onClick={onDone}>
        Done
      </button>
    </section>
  );
}

function CreateKeyForm({ isAdmin, tier, onCreated }: { isAdmin: boolean; tier: Tier; onCreated: (name: string, secret: string) => void }) {
  const utils = trpc.useUtils();
  const form = useRef<HTMLFormElement>(null);
  const [scopes, setScopes] = useState<Scope[]>([]);
  const create = trpc.keys.create.useMutation({
    onSuccess: async (res) => {
      // Cleared only once the key exists: a refusal keeps what was typed, to be corrected.
      form.current?.reset();
      setScopes([]);
      onCreated(res.apiKey.name, res.key);
      await utils.keys.list.invalidate();
    },
  });
  const refusal = refusalOf(create.error);
  // Only the tiers this user may give a key (the server refuses the others).
  const tiers = tiersFor(isAdmin ? "admin" : "user", tier);

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const budget = String(form.get("budget") ?? "").trim();
    const owner = String(form.get("owner") ?? "").trim();
    create.mutate({
      name: String(form.get("name") ?? ""),
      tier: String(form.get("tier")) as Tier,
      scopes: [...scopes, ...(form.get("admin") ? ["admin" as const] : [])],
      monthlyBudgetUsd: budget ? budget : undefined,
      budgetPeriod: String(form.get("budgetPeriod")) as BudgetPeriod,
      allowedModels: models(form),
      rpmLimit: count(form, "rpm", undefined),
      tpmLimit: count(form, "tpm", undefined),
      maxParallel: count(form, "maxParallel", undefined),
      expiresAt: expiry(form),
      ...(owner ? { userEmail: owner } : {}),
      cacheResponses: form.get("cacheResponses") === "on",
    });
  }

  return (
    <form ref={form} className="panel key-form" onSubmit={submit} aria-label="Create an API key">
      <h2>Create a key</h2>
      <div className="form-row">
        <label className="field">
          <span className="field-label">Name</span>
          <input name="name" required maxLength={100} placeholder="my-app" aria-invalid={refusal?.field === "name" || undefined} />
          <FieldError name="name" refusal={refusal} />
        </label>
        <label className="field">
          <span className="field-label">Tier</span>
          <select name="tier" defaultValue={tiers.includes("standard") ? "standard" : tiers.at(-1)}>
            {tiers.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
          <FieldError name="tier" refusal={refusal} />
        </label>
        <label className="field">
          <span className="field-label">Budget (USD per period, optional)</span>
          <input name="budget" inputMode="decimal" pattern="\d+(\.\d{1,6})?" placeholder="none" />
          <FieldError name="budget" refusal={refusal} />
        </label>
        {isAdmin ? (
          <label className="field">
            <span className="field-label">Owner email (optional)</span>
            <input name="owner" type="email" placeholder="you" aria-invalid={refusal?.field === "owner" || undefined} />
            <FieldError name="owner" refusal={refusal} />
          </label>
        ) : null}
      </div>
      <LimitFields refusal={refusal} />
      <fieldset className="scopes">
        <legend className="field-label">Scopes (none ticked: all but admin)</legend>
        {USER_SCOPES.map((s) => (
          <label key={s} className="check">
            <input
              type="checkbox"
              checked={scopes.includes(s)}
              onChange={(e) => setScopes((prev) => (e.target.checked ? [...prev, s] : prev.filter((x) => x !== s)))}
            />
            {s}
          </label>
        ))}
        {isAdmin ? (
          <label className="check">
            <input type="checkbox" name="admin" />
            admin
          </label>
        ) : null}
      </fieldset>
      <label className="check">
        <input type="checkbox" name="cacheResponses" />
        Answer repeated temperature-0 requests from the response cache (free; a request can opt out with <code>cache: false</code>)
      </label>
      {refusal && !refusal.field ? (
        <p className="form-error" role="alert">
          {refusal.message}
        </p>
      ) : null}
      <button type="submit" className="button" disabled={create.isPending}>
        {create.isPending ? "Creating…" : "Create key"}
      </button>
    </form>
  );
}

function KeyActions({
  apiKey,
  onRotated,
  onEdit,
}: {
  apiKey: ApiKey;
  onRotated: (name: string, secret: string) => void;
  onEdit: () => void;
}) {
  const utils = trpc.useUtils();
  const [confirming, setConfirming] = useState<"revoke" | "rotate" | null>(null);
  const done = async () => {
    setConfirming(null);
    await utils.keys.list.invalidate();
  };
  const revoke = trpc.keys.revoke.useMutation({ onSuccess: done });
  const rotate = trpc.keys.rotate.useMutation({
    onSuccess: async (res) => {
      onRotated(res.apiKey.name, res.key);
      await done();
    },
  });
  const error = revoke.error ?? rotate.error;
  if (apiKey.revokedAt) return <span className="muted">revoked</span>;
  if (confirming) {
    const action = confirming === "revoke" ? revoke : rotate;
    return (
      <span className="row-actions">
        {/* The confirmation names the key, so it cannot be read as being about another row. */}
        <span>
          {confirming === "revoke" ? "Revoke" : "Rotate"} “{apiKey.name}”?
        </span>
        <button type="button" className="link-button danger" disabled={action.isPending} onClick={() => action.mutate({ id: apiKey.id })}>
          {confirming === "revoke" ? "Confirm revoke" : "Confirm rotate"}
        </button>
        <button type="button" className="link-button" onClick={() => setConfirming(null)}>
          Cancel
        </button>
      </span>
    );
  }
  return (
    <span className="row-actions">
      <button type="button" className="link-button" onClick={onEdit}>
        Limits
      </button>
      <button type="button" className="link-button" onClick={() => setConfirming("rotate")}>
        Rotate
      </button>
      <button type="button" className="link-button danger" onClick={() => setConfirming("revoke")}>
        Revoke
      </button>
      {error ? <span className="form-error">{error.message}</span> : null}
    </span>
  );
}

/** The key's response-cache setting, switchable in place. */
function ResponseCacheToggle({ apiKey }: { apiKey: ApiKey }) {
  const utils = trpc.useUtils();
  const set = trpc.keys.setResponseCache.useMutation({ onSuccess: () => utils.keys.list.invalidate() });
  return (
    <label className="check" title="Answer this key's repeated temperature-0 requests from the response cache">
      <input
        type="checkbox"
        aria-label={`Response cache for ${apiKey.name}`}
        checked={apiKey.cacheResponses}
        disabled={Boolean(apiKey.revokedAt) || set.isPending}
        onChange={(e) => set.mutate({ id: apiKey.id, cacheResponses: e.target.checked })}
      />
      {apiKey.cacheResponses ? "on" : "off"}
      {set.error ? <span className="form-error"> {set.error.message}</span> : null}
    </label>
  );
}

export function KeysTable({
  keys,
  showOwner,
  onRotated,
}: {
  keys: ApiKey[];
  showOwner: boolean;
  onRotated: (name: string, secret: string) => void;
}) {
  const [editing, setEditing] = useState<string | null>(null);
  const edited = keys.find((k) => k.id === editing);
  return (
    <div className="table-wrap">
      {edited ? <EditLimits apiKey={edited} onDone={() => setEditing(null)} /> : null}
      {/* Seven columns rather than eleven, so that the table and its actions fit at 1280 px: the prefix under the name, the
          scopes under the tier, the limits under the budget, the creation under the last use. */}
      <table className="table" aria-label="API keys">
        <thead>
          <tr>
            <th>Name and key</th>
            <th>Tier and scopes</th>
            {showOwner ? <th>Owner</th> : null}
            <th>Budget and limits</th>
            <th>Response cache</th>
            <th>Last used</th>
            <th aria-label="Actions" />
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => (
            <tr key={k.id} data-testid="key-row" data-key-id={k.id} data-revoked={k.revokedAt ? "true" : "false"}>
              <td className="cell-wrap">
                {k.name}
                <span className="cell-sub">
                  <code>{k.prefix}…</code>
                </span>
              </td>
              <td className="cell-wrap">
                {k.tier}
                <span className="cell-sub">
                  {k.isAdmin ? <span className="pill">admin</span> : null}{" "}
                  {k.scopes.length ? k.scopes.join(", ") : k.isAdmin ? "" : "all scopes"}
                </span>
              </td>
              {showOwner ? (
                <td className="cell-wrap">{k.userEmail ?? (k.teamName ? `team ${k.teamName}` : <span className="muted">none</span>)}</td>
              ) : null}
              <td className="cell-wrap">
                {k.monthlyBudgetUsd ? `$${k.monthlyBudgetUsd} / ${k.budgetPeriod}` : <span className="muted">no budget</span>}
                <span className="cell-sub">{limitsOf(k) || "no other limits"}</span>
              </td>
              <td>
                <ResponseCacheToggle apiKey={k} />
              </td>
              <td>
                {dateTime(k.lastUsedAt)}
                <span className="cell-sub">created {dateTime(k.createdAt)}</span>
              </td>
              <td className="cell-actions">
                <KeyActions apiKey={k} onRotated={onRotated} onEdit={() => setEditing(k.id)} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Revoked keys, greyed: which, whose, and when they stopped working (they no longer authenticate anything). */
function RevokedKeys({ keys, showOwner }: { keys: ApiKey[]; showOwner: boolean }) {
  return (
    <section className="panel" aria-label="Revoked keys">
      <h2>Revoked keys ({keys.length})</h2>
      <div className="table-wrap">
        <table className="table" aria-label="Revoked API keys">
          <thead>
            <tr>
              <th>Name and key</th>
              {showOwner ? <th>Owner</th> : null}
              <th>Revoked</th>
              <th>Last used</th>
              <th>Created</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.id} data-testid="revoked-key-row" data-key-id={k.id} data-revoked="true">
                <td className="cell-wrap">
                  {k.name}
                  <span className="cell-sub">
                    <code>{k.prefix}…</code>
                  </span>
                </td>
                {showOwner ? <td className="cell-wrap">{k.userEmail ?? (k.teamName ? `team ${k.teamName}` : "none")}</td> : null}
                <td>{dateTime(k.revokedAt)}</td>
                <td>{dateTime(k.lastUsedAt)}</td>
                <td>{dateTime(k.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function NoKeys(): ReactNode {
  return (
    <EmptyState title="No API keys yet">
      <p>Create one above, or with the CLI (it works while the server runs):</p>
      <ol className="steps">
        <Step n={1} title="Create a key">
          <CodeBlock>npm run cli -- keys create --name my-app</CodeBlock>
        </Step>
        <Step n={2} title="Send it with each request">
          <p className="step-text">
            The key is shown once. Send it as <code>Authorization: Bearer &lt;key&gt;</code> or <code>x-api-key: &lt;key&gt;</code>:
          </p>
          <CodeBlock>
            curl <Origin />
            {`/v1/llm/models -H "Authorization: Bearer $MODEL_SERVICE_KEY"`}
          </CodeBlock>
        </Step>
      </ol>
    </EmptyState>
  );
}

/** The keys page's list query (app/keys/page.tsx renders the same): revoked keys included, listed apart and greyed. */
const KEYS_LIST_INPUT = { includeRevoked: true } as const;

export function KeysManager({ initialKeys, isAdmin, tier }: { initialKeys: ApiKey[]; isAdmin: boolean; tier: Tier }) {
  const keys = trpc.keys.list.useQuery(KEYS_LIST_INPUT, { initialData: initialKeys, staleTime: 5_000 });
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);
  const show = (name: string, s: string) => setSecret({ name, secret: s });
  const list = keys.data ?? [];
  const active = list.filter((k) => !k.revokedAt);
  const revoked = list.filter((k) => k.revokedAt);
  return (
    <>
      {secret ? <NewSecret name={secret.name} secret={secret.secret} onDone={() => setSecret(null)} /> : null}
      <CreateKeyForm isAdmin={isAdmin} tier={tier} onCreated={show} />
      {keys.error ? (
        <p className="form-error" role="alert">
          {keys.error.message}
        </p>
      ) : null}
      {active.length ? <KeysTable keys={active} showOwner={isAdmin || active.some((k) => k.teamId)} onRotated={show} /> : <NoKeys />}
      {revoked.length ? <RevokedKeys keys={revoked} showOwner={isAdmin || revoked.some((k) => k.teamId)} /> : null}
    </>
  );
}
