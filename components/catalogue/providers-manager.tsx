"use client";
// The providers page (admins): every provider with its type, id, where it was configured
// (environment, configuration file, dashboard), its status and last error, and a connection test
// (a cheap real call: ok and the latency, or the error). The dashboard's own providers can be
// added, edited and removed here; a saved key is never shown again, only its masked tail. Talks to
// the `providers.*` tRPC procedures; the first list comes from the server render.
import { useState, type FormEvent } from "react";
import { dateTime } from "@/lib/dates";
import { EmptyState } from "../shared/empty-state";
import { trpc } from "../shared/trpc-provider";
import type { RouterInputs, RouterOutputs } from "../wire";
import styles from "./providers-manager.module.css";

type ProviderRow = RouterOutputs["providers"]["list"][number];
type ConnectionTest = RouterOutputs["providers"]["test"];
type SaveInput = RouterInputs["providers"]["save"];

const SOURCE_LABELS: Record<ProviderRow["source"], string> = {
  environment: "environment",
  file: "configuration file",
  dashboard: "dashboard",
};

type Field = { key: string; label: string; secret?: boolean; required?: boolean; placeholder?: string };

/** The fields of each type the dashboard can add, as the configuration file names them. */
const TYPES: { type: string; label: string; fields: Field[] }[] = [
  {
    type: "openai-compatible",
    label: "OpenAI-compatible server",
    fields: [
      { key: "base_url", label: "Base URL", required: true, placeholder: "http://localhost:11434/v1" },
      { key: "api_key", label: "API key (optional)", secret: true },
    ],
  },
  {
    type: "openai",
    label: "OpenAI",
    fields: [
      { key: "api_key", label: "API key", secret: true, required: true },
      { key: "organization", label: "Organization (optional)", placeholder: "org-…" },
      { key: "base_url", label: "Base URL (optional)", placeholder: "https://api.openai.com/v1" },
    ],
  },
  {
    type: "anthropic",
    label: "Anthropic",
    fields: [
      { key: "api_key", label: "API key", secret: true, required: true },
      { key: "base_url", label: "Base URL (optional)", placeholder: "https://api.anthropic.com" },
    ],
  },
  {
    type: "azure-openai",
    label: "Azure OpenAI",
    fields: [
      { key: "endpoint", label: "Endpoint", required: true, placeholder: "https://my-resource.openai.azure.com" },
      { key: "api_key", label: "API key", secret: true, required: true },
      { key: "api_version", label: "API version (optional)", placeholder: "2024-10-21" },
    ],
  },
  {
    type: "bedrock",
    label: "AWS Bedrock",
    fields: [
      { key: "region", label: "Region", required: true, placeholder: "us-east-1" },
      { key: "access_key_id", label: "Access key id (optional: the default chain)", placeholder: "AKIA…" },
      { key: "secret_access_key", label: "Secret access key", secret: true },
      { key: "session_token", label: "Session token (optional)", secret: true },
      { key: "endpoint", label: "Endpoint (optional)" },
    ],
  },
  {
    type: "gemini",
    label: "Google Gemini API",
    fields: [
      { key: "api_key", label: "API key", secret: true, required: true },
      { key: "base_url", label: "Base URL (optional)" },
    ],
  },
  {
    type: "vertex",
    label: "Google Vertex AI",
    fields: [
      { key: "project", label: "Project", required: true },
      { key: "location", label: "Location (optional)", placeholder: "global" },
      { key: "credentials_file", label: "Service-account key file on the server (optional)", placeholder: "/secrets/sa.json" },
      { key: "base_url", label: "Base URL (optional)" },
    ],
  },
];

function typeLabel(type: string): string {
  return TYPES.find((t) => t.type === type)?.label ?? type;
}

function errorText(error: { message: string; data?: { zodError?: { field: string; message: string }[] | null } | null } | null) {
  const issue = error?.data?.zodError?.[0];
  return issue ? `${issue.field}: ${issue.message}` : (error?.message ?? "");
}

/** Adds a provider (no `editing`) or edits a dashboard one: a secret left empty keeps its stored value. */
function ProviderForm({ editing, onClose }: { editing?: ProviderRow; onClose: () => void }) {
  const utils = trpc.useUtils();
  const stored = editing?.stored ?? null;
  const [type, setType] = useState(stored?.type ?? "openai-compatible");
  const save = trpc.providers.save.useMutation({
    onSuccess: async () => {
      await Promise.all([utils.providers.list.invalidate(), utils.models.list.invalidate()]);
      onClose();
    },
  });
  const spec = TYPES.find((t) => t.type === type) ?? TYPES[0]!;
  const keepsSecrets = stored !== null && stored.type === type;

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const text = (name: string) => String(form.get(name) ?? "").trim();
    const provider: SaveInput["provider"] = { type };
    if (text("name")) provider.name = text("name");
    for (const f of spec.fields) {
      // An empty secret is left out: the stored one is kept (edit) or there is none (add).
      if (text(f.key)) provider[f.key] = text(f.key);
    }
    save.mutate({ id: editing?.id ?? text("id"), provider });
  }

  const setting = (key: string) => {
    const v = stored && stored.type === type ? stored.settings[key] : undefined;
    return typeof v === "string" ? v : "";
  };
  return (
    <form
      className={`panel ${styles.form}`}
      onSubmit={submit}
      aria-label={editing ? `Edit provider ${editing.id}` : "Add a provider"}
      key={editing?.id ?? "new"}
    >
      <h2>{editing ? `Edit ${editing.id}` : "Add a provider"}</h2>
      <p className="muted">
        Stored in the database with its key encrypted (SECRETS_KEY); every instance picks it up within seconds. A saved key is never shown
        again{editing ? ": leave a key empty to keep the stored one" : ""}.
      </p>
      <div className="form-row">
        <label className="field">
          <span className="field-label">Id</span>
          <input
            name="id"
            required
            maxLength={63}
            pattern="[a-z0-9][a-z0-9_.\-]{0,62}"
            placeholder="azure-east"
            defaultValue={editing?.id}
            readOnly={Boolean(editing)}
          />
        </label>
        <label className="field">
          <span className="field-label">Type</span>
          <select value={type} onChange={(e) => setType(e.target.value)} aria-label="Provider type">
            {TYPES.map((t) => (
              <option key={t.type} value={t.type}>
                {t.label}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span className="field-label">Display name (optional)</span>
          <input name="name" maxLength={100} defaultValue={editing && setting("name") ? setting("name") : ""} />
        </label>
      </div>
      <div className="form-row" key={type}>
        {spec.fields.map((f) => (
          <label key={f.key} className="field">
            <span className="field-label">{f.label}</span>
            {f.secret ? (
              <input
                name={f.key}
                type="password"
                autoComplete="off"
                required={f.required && !(keepsSecrets && stored.secrets.includes(f.key))}
                placeholder={
                  keepsSecrets && stored.secrets.includes(f.key)
                    ? `unchanged${f.key === "api_key" || f.key === "secret_access_key" ? ` (${stored.secretTail})` : ""}`
                    : ""
                }
              />
            ) : (
              <input name={f.key} required={f.required} placeholder={f.placeholder} defaultValue={setting(f.key)} />
            )}
          </label>
        ))}
      </div>
      {save.error ? (
        <p className="form-error" role="alert">
          {errorText(save.error)}
        </p>
      ) : null}
      <div className="row-actions">
        <button type="submit" className="button" disabled={save.isPending}>
          {save.isPending ? "Saving…" : editing ? "Save" : "Add provider"}
        </button>
        <button type="button" className="button button-secondary" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function TestResult({ result }: { result: ConnectionTest }) {
  return result.ok ? (
    <span className={styles.test} data-testid="connection-result" data-ok="true">
      ok · {result.latencyMs} ms
    </span>
  ) : (
    <span className={`${styles.test} form-error`} data-testid="connection-result" data-ok="false">
      failed after {result.latencyMs} ms: {result.error?.message}
    </span>
  );
}

function ProviderRowView({ provider: p, onEdit }: { provider: ProviderRow; onEdit: () => void }) {
  const utils = trpc.useUtils();
  const [result, setResult] = useState<ConnectionTest | null>(null);
  const [confirming, setConfirming] = useState(false);
  const test = trpc.providers.test.useMutation({
    onSuccess: async (r) => {
      setResult(r);
      // A failed test is the provider's last error now.
      await utils.providers.list.invalidate();
    },
  });
  const remove = trpc.providers.remove.useMutation({
    onSuccess: async () => {
      setConfirming(false);
      await Promise.all([utils.providers.list.invalidate(), utils.models.list.invalidate()]);
    },
  });
  return (
    <tr data-provider={p.id} data-source={p.source} data-available={p.available}>
      <td>
        <span className={styles.name}>{p.name}</span>
        <code className={styles.id}>{p.id}</code>
      </td>
      <td>{typeLabel(p.type)}</td>
      <td data-testid="provider-source">
        {SOURCE_LABELS[p.source]}
        {p.stored?.secretTail ? (
          <span className={styles.sub} data-testid="provider-key">
            key {p.stored.secretTail}
          </span>
        ) : null}
      </td>
      <td data-testid="provider-status">
        {p.available ? "Available" : "Unavailable"}
        {p.reason ? <span className={styles.sub}>{p.reason}</span> : null}
      </td>
      <td data-testid="provider-last-error">
        {p.lastError ? (
          <>
            {p.lastError.message}
            <span className={styles.sub}>{dateTime(p.lastError.at)}</span>
          </>
        ) : (
          <span className="muted">none</span>
        )}
      </td>
      <td>
        <button
          type="button"
          className="link-button"
          disabled={test.isPending}
          onClick={() => test.mutate({ id: p.id })}
          aria-label={`Test connection to ${p.id}`}
        >
          {test.isPending ? "Testing…" : "Test connection"}
        </button>
        {result ? <TestResult result={result} /> : null}
        {test.error ? <span className="form-error">{test.error.message}</span> : null}
      </td>
      <td>
        {p.source === "dashboard" ? (
          confirming ? (
            <span className="row-actions">
              <button
                type="button"
                className="link-button danger"
                disabled={remove.isPending}
                onClick={() => remove.mutate({ id: p.id })}
                aria-label={`Confirm removing ${p.id}`}
              >
                Confirm remove
              </button>
              <button type="button" className="link-button" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </span>
          ) : (
            <span className="row-actions">
              <button type="button" className="link-button" onClick={onEdit} aria-label={`Edit ${p.id}`}>
                Edit
              </button>
              <button type="button" className="link-button danger" onClick={() => setConfirming(true)} aria-label={`Remove ${p.id}`}>
                Remove
              </button>
            </span>
          )
        ) : (
          <span className="muted" title="Change it where it is configured">
            —
          </span>
        )}
        {remove.error ? <span className="form-error">{remove.error.message}</span> : null}
      </td>
    </tr>
  );
}

export function AdminsOnly() {
  return (
    <EmptyState title="Only admins manage providers">
      <p>The providers, their keys and their status are shown to admins. Ask an admin of this service for access.</p>
    </EmptyState>
  );
}

export function ProvidersManager({ initialProviders }: { initialProviders: ProviderRow[] }) {
  const list = trpc.providers.list.useQuery(undefined, { initialData: initialProviders, staleTime: 2_000 });
  const [form, setForm] = useState<{ editing?: ProviderRow } | null>(null);
  const providers = list.data ?? initialProviders;
  if (list.error?.data?.code === "FORBIDDEN") return <AdminsOnly />;
  return (
    <>
      {form ? (
        <ProviderForm editing={form.editing} onClose={() => setForm(null)} />
      ) : (
        <p>
          <button type="button" className="button button-secondary" onClick={() => setForm({})}>
            Add a provider
          </button>
        </p>
      )}
      {list.error ? (
        <p className="form-error" role="alert">
          could not refresh: {list.error.message}
        </p>
      ) : null}
      <div className="table-wrap">
        <table className={`table ${styles.table}`} aria-label="Providers">
          <thead>
            <tr>
              <th>Provider</th>
              <th>Type</th>
              <th>Configured in</th>
              <th>Status</th>
              <th>Last error</th>
              <th>Connection</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {providers.map((p) => (
              <ProviderRowView key={p.id} provider={p} onEdit={() => setForm({ editing: p })} />
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
