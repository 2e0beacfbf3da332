"use client";
// Budget alerts on the dashboard: a banner with this month's alerts (the usage and keys pages),
// and the settings panel of the keys page (thresholds per key or for your account, your webhook
// and its signing secret, shown once). Talks to the `budgetAlerts.*` tRPC procedures.
import { useState, type FormEvent } from "react";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "@/server/api/trpc-root";
import { CodeBlock } from "./code-block";
import { trpc } from "./trpc-provider";

type Alert = inferRouterOutputs<AppRouter>["budgetAlerts"]["list"][number];
type KeyOption = { id: string; name: string };

function describe(a: Alert): string {
  const who =
    a.scope === "api_key" ? `API key “${a.subjectName ?? a.subjectId}”` : a.subjectName ? `Account ${a.subjectName}` : "Your account";
  const spent = Number(a.spentUsd).toFixed(2);
  return `${who} reached ${a.thresholdPercent}% of its $${a.budgetUsd} monthly budget ($${spent} spent in ${a.period})`;
}

/** This UTC month's alerts, newest first; nothing when there are none. */
export function BudgetAlertsBanner() {
  const alerts = trpc.budgetAlerts.list.useQuery({ currentPeriod: true, limit: 20 }, { refetchInterval: 60_000 });
  if (!alerts.data?.length) return null;
  return (
    <section className="panel budget-alerts" aria-label="Budget alerts" data-testid="budget-alerts">
      <h2>Budget alerts this month</h2>
      <ul>
        {alerts.data.map((a) => (
          <li key={a.id} data-threshold={a.thresholdPercent} data-level={a.thresholdPercent >= 100 ? "over" : "warn"}>
            {describe(a)}
            <span className="muted">
              {" "}
              · {new Date(a.createdAt).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })}
              {a.deliveries.length ? ` · webhook ${a.deliveries.map((d) => `${d.target}: ${d.status}`).join(", ")}` : ""}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Thresholds for your account or one of your keys, and your account's webhook. */
export function BudgetAlertSettings({ keys }: { keys: KeyOption[] }) {
  const [subject, setSubject] = useState("user");
  const [secret, setSecret] = useState<string | null>(null);
  const utils = trpc.useUtils();
  const input = subject === "user" ? { kind: "user" as const } : { kind: "api_key" as const, id: subject };
  const settings = trpc.budgetAlerts.settings.useQuery(input);
  const update = trpc.budgetAlerts.updateSettings.useMutation({
    onSuccess: async (res) => {
      if (res.webhookSecret) setSecret(res.webhookSecret);
      await utils.budgetAlerts.settings.invalidate();
    },
  });

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const text = (name: string) => String(form.get(name) ?? "").trim();
    const thresholds = text("thresholds")
      .split(/[\s,%]+/)
      .filter(Boolean)
      .map(Number);
    const patch: { thresholds: number[] | null; webhookUrl?: string | null; rotateSecret?: boolean } = {
      thresholds: thresholds.length ? thresholds : null,
    };
    if (subject === "user") {
      patch.webhookUrl = text("webhookUrl") || null;
      if (form.get("rotateSecret")) patch.rotateSecret = true;
    }
    update.mutate({ ...input, patch });
  }

  const s = settings.data;
  const issue = update.error?.data?.zodError?.[0];
  return (
    <form
      className="panel key-form"
      onSubmit={submit}
      aria-label="Budget alert settings"
      key={`${subject}:${s?.thresholds.join(",") ?? ""}:${s?.webhookUrl ?? ""}`}
    >
      <h2>Budget alerts</h2>
      <p className="muted">
        An alert fires once per month for each threshold of a monthly budget reached (default 50, 80 and 100 %): a line here and on the
        usage page, and a signed webhook (<code>x-model-service-signature: sha256=…</code>, HMAC-SHA256 of the body with your secret)
        {s?.globalWebhook ? "; the operator's webhook receives every alert too" : ""}.
      </p>
      <div className="form-row">
        <label className="field">
          <span className="field-label">For</span>
          <select value={subject} onChange={(e) => setSubject(e.target.value)} aria-label="Alerts for">
            <option value="user">Your account</option>
            {keys.map((k) => (
              <option key={k.id} value={k.id}>
                Key {k.name}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span className="field-label">Thresholds (% of the budget)</span>
          <input
            name="thresholds"
            defaultValue={s && !s.usesDefaultThresholds ? s.thresholds.join(", ") : ""}
            placeholder="50, 80, 100"
            disabled={!s}
          />
        </label>
        {subject === "user" ? (
          <label className="field">
            <span className="field-label">Webhook URL (http or https)</span>
            <input
              name="webhookUrl"
              type="url"
              defaultValue={s?.webhookUrl ?? ""}
              placeholder="https://example.com/hooks/budget"
              disabled={!s}
            />
          </label>
        ) : null}
      </div>
      {subject === "user" && s?.hasWebhookSecret ? (
        <label className="check">
          <input type="checkbox" name="rotateSecret" /> New signing secret
        </label>
      ) : null}
      {secret ? (
        <div className="new-secret" data-testid="webhook-secret">
          <p>The webhook&apos;s signing secret, shown only this once:</p>
          <CodeBlock label="Webhook signing secret">{secret}</CodeBlock>
        </div>
      ) : null}
      {update.error ? (
        <p className="form-error" role="alert">
          {issue ? `${issue.field}: ${issue.message}` : update.error.message}
        </p>
      ) : null}
      {update.isSuccess && !update.isPending ? <p className="muted">Saved.</p> : null}
      {/* The fields stay disabled until the settings have loaded: the form is re-made with them, which would drop what was typed. */}
      <button type="submit" className="button" disabled={!s || update.isPending}>
        {update.isPending ? "Saving…" : "Save alert settings"}
      </button>
    </form>
  );
}
