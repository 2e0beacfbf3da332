"use client";
// The models page's Deployments section: for each model that model-service.yaml or the dashboard
// routes over deployments, each deployment with its provider and model name there, weight,
// priority, caps, health (taking traffic, cooling down for how long, or its provider's reason) and
// recent latency, from tRPC routing.deployments (refreshed every 5 s). Admins add deployments here
// (routing.saveDeployment) and edit or remove the ones added here; the file's are read-only.
// Nothing shows a non-admin when no model is routed.
import { useState, type FormEvent } from "react";
import { compact } from "@/lib/format";
import { trpc } from "../shared/trpc-provider";
import type { RouterOutputs } from "../wire";
import styles from "./models-catalogue.module.css";

type Deployment = RouterOutputs["routing"]["deployments"][number]["deployments"][number];
type Entry = RouterOutputs["routing"]["storedDeployments"][number]["entry"];

/** The add/edit form: a file `models:` entry, as the admin would write it in model-service.yaml. */
function DeploymentForm({ editing, onDone }: { editing?: Entry; onDone: () => void }) {
  const utils = trpc.useUtils();
  const save = trpc.routing.saveDeployment.useMutation({
    onSuccess: async () => {
      await Promise.all([utils.routing.deployments.invalidate(), utils.routing.storedDeployments.invalidate()]);
      onDone();
    },
  });
  const [values, setValues] = useState<Record<string, string>>(() => ({
    model: editing?.model ?? "",
    provider: editing?.provider ?? "",
    provider_model: editing?.provider_model ?? "",
    id: editing?.id ?? "",
    weight: editing?.weight !== undefined ? String(editing.weight) : "",
    priority: editing?.priority !== undefined ? String(editing.priority) : "",
    rpm: editing?.rpm !== undefined ? String(editing.rpm) : "",
    tpm: editing?.tpm !== undefined ? String(editing.tpm) : "",
    region: editing?.region ?? "",
    tags: editing?.tags?.join(", ") ?? "",
    price_input: editing?.price ? String(editing.price.input) : "",
    price_output: editing?.price ? String(editing.price.output) : "",
  }));
  const set = (name: string) => (e: { target: { value: string } }) => setValues((v) => ({ ...v, [name]: e.target.value }));
  const num = (name: string) => (values[name]!.trim() === "" ? undefined : Number(values[name]));
  const str = (name: string) => (values[name]!.trim() === "" ? undefined : values[name]!.trim());

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const tags = values.tags!.split(/[\s,]+/).filter(Boolean);
    const entry: Entry = {
      model: values.model!.trim(),
      provider: values.provider!.trim(),
      ...(str("provider_model") ? { provider_model: str("provider_model") } : {}),
      ...(str("id") ? { id: str("id") } : {}),
      ...(num("weight") !== undefined ? { weight: num("weight") } : {}),
      ...(num("priority") !== undefined ? { priority: num("priority") } : {}),
      ...(num("rpm") !== undefined ? { rpm: num("rpm") } : {}),
      ...(num("tpm") !== undefined ? { tpm: num("tpm") } : {}),
      ...(str("region") ? { region: str("region") } : {}),
      ...(tags.length ? { tags } : {}),
      ...(str("price_input") || str("price_output")
        ? { price: { input: str("price_input") ?? "0", output: str("price_output") ?? "0" } }
        : {}),
    };
    // The form keeps what was typed when the server refuses it; the error names the field.
    save.mutate({ entry, ...(editing?.id ? { replace: editing.id } : {}) });
  }

  const field = (name: string, label: string, props: Record<string, unknown> = {}) => (
    <label className="field">
      <span className="field-label">{label}</span>
      <input name={name} value={values[name]} onChange={set(name)} {...props} />
    </label>
  );
  const problem = save.error?.data?.zodError?.[0];
  return (
    <form className={styles.editor} onSubmit={submit} aria-label={editing ? `Edit deployment ${editing.id}` : "Add a deployment"}>
      <p className="muted">
        As a <code>models:</code> entry of model-service.yaml: a catalogue model served by a configured provider. Calls use it within two
        seconds on every instance.
      </p>
      <div className="form-row">
        {field("model", "Model", { required: true, placeholder: "gpt-4o-mini" })}
        {field("provider", "Provider", { required: true, placeholder: "azure-east" })}
        {field("provider_model", "Model name there", { placeholder: "as the model" })}
        {field("id", "Id", { placeholder: "<provider>/<model name there>" })}
      </div>
      <div className="form-row">
        {field("weight", "Weight", { inputMode: "decimal", placeholder: "1" })}
        {field("priority", "Priority", { inputMode: "numeric", placeholder: "0" })}
        {field("rpm", "Requests/min cap", { inputMode: "numeric", placeholder: "none" })}
        {field("tpm", "Tokens/min cap", { inputMode: "numeric", placeholder: "none" })}
      </div>
      <div className="form-row">
        {field("region", "Region", { placeholder: "eastus" })}
        {field("tags", "Tags", { placeholder: "a, b" })}
        {field("price_input", "Own input price (per 1M)", { inputMode: "decimal", placeholder: "the catalogue's" })}
        {field("price_output", "Own output price (per 1M)", { inputMode: "decimal", placeholder: "the catalogue's" })}
      </div>
      {save.error ? (
        <p className="form-error" role="alert" data-testid="deployment-error">
          {problem ? `${problem.field}: ${problem.message}` : save.error.message}
        </p>
      ) : null}
      <div className="row-actions">
        <button type="submit" className="button" disabled={save.isPending}>
          {save.isPending ? "Saving…" : editing ? "Save" : "Add deployment"}
        </button>
        <button type="button" className="button button-secondary" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** Edit and Remove for a deployment added in the dashboard (admins). */
function StoredActions({ id, onEdit }: { id: string; onEdit: () => void }) {
  const utils = trpc.useUtils();
  const remove = trpc.routing.deleteDeployment.useMutation({
    onSuccess: () => Promise.all([utils.routing.deployments.invalidate(), utils.routing.storedDeployments.invalidate()]),
  });
  return (
    <span className="row-actions">
      <button type="button" className="button button-secondary" onClick={onEdit}>
        Edit
      </button>
      <button
        type="button"
        className="button button-secondary"
        disabled={remove.isPending}
        onClick={() => {
          if (window.confirm(`Remove the deployment ${id}?`)) remove.mutate({ id });
        }}
      >
        Remove
      </button>
    </span>
  );
}

function Health({ d }: { d: Deployment }) {
  const text =
    d.status === "ok"
      ? "Taking traffic"
      : d.status === "cooling"
        ? `Cooling down, ${Math.ceil(d.cooldownMs / 1000)} s left`
        : "Unavailable";
  return (
    <span className={styles.availability} data-available={d.status === "ok"} data-testid="deployment-health">
      <span className={styles.dot} aria-hidden />
      <span>
        {text}
        {d.reason ? <span className={styles.reason}>{d.reason}</span> : null}
      </span>
    </span>
  );
}

const caps = (d: Deployment) =>
  [d.rpm !== null ? `${compact(d.rpm)} rpm` : null, d.tpm !== null ? `${compact(d.tpm)} tpm` : null].filter(Boolean).join(", ") || "none";

export function DeploymentsTable({ isAdmin = false }: { isAdmin?: boolean }) {
  const q = trpc.routing.deployments.useQuery(undefined, { refetchInterval: 5_000, retry: false });
  const stored = trpc.routing.storedDeployments.useQuery(undefined, { enabled: isAdmin, retry: false });
  const [form, setForm] = useState<{ editing?: Entry } | null>(null);
  const groups = q.data ?? [];
  if (!groups.length && !isAdmin) return null;
  return (
    <section aria-label="Deployments" data-testid="deployments">
      <h2>Deployments</h2>
      <p className="muted">
        Models served by deployments of model-service.yaml{isAdmin ? " or added here" : ""}; each call goes to one by the model&apos;s
        strategy, skipping those cooling down after failures or at their caps. Latency, in flight and counts are this instance&apos;s.
      </p>
      {isAdmin && !form ? (
        <p>
          <button type="button" className="button" onClick={() => setForm({})} data-testid="add-deployment">
            Add a deployment
          </button>
        </p>
      ) : null}
      {form ? <DeploymentForm key={form.editing?.id ?? "new"} editing={form.editing} onDone={() => setForm(null)} /> : null}
      {groups.length ? (
        <div className="table-wrap">
          <table className={`table ${styles.table}`} aria-label="Deployments">
            <thead>
              <tr>
                <th>Model</th>
                <th>Deployment</th>
                <th>Provider / model there</th>
                <th className={styles.numeric}>Weight</th>
                <th className={styles.numeric}>Priority</th>
                <th>Caps</th>
                <th>Health</th>
                <th className={styles.numeric}>Latency</th>
                <th className={styles.numeric}>In flight</th>
                <th className={styles.numeric}>Requests / failures</th>
                {isAdmin ? <th aria-label="Actions" /> : null}
              </tr>
            </thead>
            <tbody>
              {groups.flatMap((g) =>
                g.deployments.map((d, i) => (
                  <tr key={`${g.model}/${d.id}`} data-testid={`deployment-${d.id}`}>
                    <td>{i === 0 ? `${g.model} (${g.strategy})` : ""}</td>
                    <td>
                      <code>{d.id}</code>
                      {d.region ? <span className="muted"> · {d.region}</span> : null}
                      <span className="muted" data-testid="deployment-source">
                        {" "}
                        · {d.source === "dashboard" ? "dashboard" : "file"}
                      </span>
                    </td>
                    <td>
                      {d.provider} / {d.providerModel}
                    </td>
                    <td className={styles.numeric}>{d.weight}</td>
                    <td className={styles.numeric}>{d.priority}</td>
                    <td>{caps(d)}</td>
                    <td>
                      <Health d={d} />
                    </td>
                    <td className={styles.numeric}>{d.latencyMs === null ? "—" : `${d.latencyMs} ms`}</td>
                    <td className={styles.numeric}>{d.inFlight}</td>
                    <td className={styles.numeric}>
                      {d.requests} / {d.failures}
                    </td>
                    {isAdmin ? (
                      <td>
                        {d.source === "dashboard" ? (
                          <StoredActions
                            id={d.id}
                            onEdit={() =>
                              setForm({
                                editing: stored.data?.find((s) => s.id === d.id)?.entry ?? {
                                  model: g.model,
                                  provider: d.provider,
                                  id: d.id,
                                },
                              })
                            }
                          />
                        ) : null}
                      </td>
                    ) : null}
                  </tr>
                )),
              )}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
