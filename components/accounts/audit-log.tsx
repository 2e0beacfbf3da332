"use client";
// The audit page (admins): the audit log newest first, filtered by actor, action, target and
// since, a page at a time (audit.list's cursor), each row opening to a field-by-field diff of its
// before and after (secrets arrive masked from the server).
import { useState, type FormEvent } from "react";
import { dateTime } from "@/lib/dates";
import { EmptyState } from "../shared/empty-state";
import { trpc } from "../shared/trpc-provider";
import type { RouterInputs, RouterOutputs } from "../wire";

type AuditPage = RouterOutputs["audit"]["list"];
type AuditEvent = AuditPage["events"][number];
type Filters = NonNullable<RouterInputs["audit"]["list"]>;

const show = (v: unknown) => (v === undefined ? "—" : JSON.stringify(v));

/** Each field of before and after, marked when it changed. */
function Diff({ event }: { event: AuditEvent }) {
  const before = (event.before ?? {}) as Record<string, unknown>;
  const after = (event.after ?? {}) as Record<string, unknown>;
  const fields = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  if (fields.length === 0) return <p className="muted">No details recorded for this action.</p>;
  return (
    <table className="table audit-diff" aria-label={`Changes of event ${event.id}`}>
      <thead>
        <tr>
          <th>Field</th>
          <th>Before</th>
          <th>After</th>
        </tr>
      </thead>
      <tbody>
        {fields.map((f) => {
          const changed = show(before[f]) !== show(after[f]);
          return (
            <tr key={f} data-changed={changed ? "true" : "false"}>
              <td>
                <code>{f}</code>
              </td>
              <td className={changed ? "diff-removed" : undefined}>{event.before === null ? "—" : show(before[f])}</td>
              <td className={changed ? "diff-added" : undefined}>{event.after === null ? "—" : show(after[f])}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function EventRow({ event }: { event: AuditEvent }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <tr data-testid="audit-row" data-action={event.action}>
        <td>{dateTime(event.at)}</td>
        <td>
          {event.actor.label ?? event.actor.kind}
          {event.actor.id && event.actor.id !== event.actor.label ? <span className="muted"> ({event.actor.id})</span> : null}
        </td>
        <td>
          <code>{event.action}</code>
        </td>
        <td>
          {event.target.kind} {event.target.id ? <code>{event.target.id}</code> : null}
        </td>
        <td>
          <button type="button" className="link-button" aria-expanded={open} onClick={() => setOpen(!open)}>
            {open ? "Hide changes" : "Changes"}
          </button>
        </td>
      </tr>
      {open ? (
        <tr>
          <td colSpan={5}>
            <Diff event={event} />
          </td>
        </tr>
      ) : null}
    </>
  );
}

export function AuditLog({ initialPage }: { initialPage: AuditPage }) {
  const [filters, setFilters] = useState<Filters>({});
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const query = trpc.audit.list.useQuery(
    { ...filters, ...(cursor ? { cursor } : {}), limit: 50 },
    Object.keys(filters).length === 0 && !cursor ? { initialData: initialPage } : undefined,
  );
  const page = query.data;

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const text = (name: string) => String(form.get(name) ?? "").trim() || undefined;
    const since = text("since");
    setFilters({
      actor: text("actor"),
      action: text("action"),
      target: text("target"),
      ...(since ? { since: `${since}T00:00:00Z` } : {}),
    });
    setCursors([]);
  }

  return (
    <>
      <form className="panel key-form" onSubmit={submit} aria-label="Filter the audit log">
        <div className="form-row">
          <label className="field">
            <span className="field-label">Actor (id or email)</span>
            <input name="actor" placeholder="anyone" />
          </label>
          <label className="field">
            <span className="field-label">Action</span>
            <input name="action" placeholder="key.* or user.role_change" />
          </label>
          <label className="field">
            <span className="field-label">Target id</span>
            <input name="target" placeholder="any" />
          </label>
          <label className="field">
            <span className="field-label">Since (UTC)</span>
            <input name="since" type="date" />
          </label>
        </div>
        <button type="submit" className="button">
          Filter
        </button>
      </form>
      {query.error ? (
        <p className="form-error" role="alert">
          {query.error.message}
        </p>
      ) : null}
      {page && page.events.length > 0 ? (
        <div className="table-wrap">
          <table className="table table-wrapping" aria-label="Audit log">
            <thead>
              <tr>
                <th>When</th>
                <th>Who</th>
                <th>Action</th>
                <th>Target</th>
                <th aria-label="Changes" />
              </tr>
            </thead>
            <tbody>
              {page.events.map((e) => (
                <EventRow key={e.id} event={e} />
              ))}
            </tbody>
          </table>
        </div>
      ) : page ? (
        <EmptyState title="No audit events">
          <p>Nothing matches these filters yet. Changes to keys, users, providers, models and budget alerts, and sign-ins, appear here.</p>
        </EmptyState>
      ) : null}
      <span className="row-actions">
        <button
          type="button"
          className="button button-secondary"
          disabled={cursors.length === 0}
          onClick={() => setCursors(cursors.slice(0, -1))}
        >
          Newer
        </button>
        <button
          type="button"
          className="button button-secondary"
          disabled={!page?.nextCursor}
          onClick={() => page?.nextCursor && setCursors([...cursors, page.nextCursor])}
        >
          Older
        </button>
      </span>
    </>
  );
}

export function AuditAdminsOnly() {
  return (
    <EmptyState title="Only admins read the audit log">
      <p>The audit log records who changed what across every account. Ask an admin of this service for access.</p>
    </EmptyState>
  );
}
