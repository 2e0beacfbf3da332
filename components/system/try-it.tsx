"use client";
// "Try it" on the API reference: the operation's example request, editable, sent from the browser
// with the signed-in dashboard session (the REST API takes the session cookie like a key), and the
// answer shown as it came: status, time and body.
import { useState, type FormEvent } from "react";
import styles from "./api-reference.module.css";

type Props = {
  method: string;
  /** The path with its parameters filled from the example (`/v1/vector/collections/docs`). */
  path: string;
  query: string;
  body: string | null;
};

type Answer = { status: number; ms: number; text: string; contentType: string };

function pretty(text: string, contentType: string): string {
  if (!contentType.includes("json")) return text;
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export function TryIt({ method, path, query, body }: Props) {
  const [open, setOpen] = useState(false);
  const [target, setTarget] = useState(query ? `${path}?${query}` : path);
  const [text, setText] = useState(body ?? "");
  const [answer, setAnswer] = useState<Answer | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [sending, setSending] = useState(false);

  async function send(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setProblem(null);
    if (body !== null) {
      try {
        JSON.parse(text);
      } catch {
        setProblem("The body is not valid JSON");
        return;
      }
    }
    setSending(true);
    const started = performance.now();
    try {
      const res = await fetch(target, {
        method: method.toUpperCase(),
        credentials: "same-origin",
        headers: body !== null ? { "content-type": "application/json" } : undefined,
        body: body !== null ? text : undefined,
      });
      const contentType = res.headers.get("content-type") ?? "";
      const raw = await res.text();
      setAnswer({ status: res.status, ms: Math.round(performance.now() - started), text: pretty(raw, contentType), contentType });
    } catch (err) {
      setProblem(`The request did not complete: ${(err as Error).message}`);
    } finally {
      setSending(false);
    }
  }

  if (!open) {
    return (
      <button type="button" className="button secondary" onClick={() => setOpen(true)}>
        Try it
      </button>
    );
  }
  return (
    <form className={styles.tryIt} onSubmit={send} aria-label={`Try ${method.toUpperCase()} ${path}`}>
      <label className="field">
        <span className="field-label">{method.toUpperCase()}</span>
        <input value={target} onChange={(e) => setTarget(e.target.value)} spellCheck={false} aria-label="Path and query" />
      </label>
      {body !== null ? (
        <label className="field">
          <span className="field-label">Body (JSON)</span>
          <textarea
            value={text}
            onChange={(e) => setText(e.target.value)}
            rows={Math.min(16, text.split("\n").length + 1)}
            spellCheck={false}
          />
        </label>
      ) : null}
      <p className="muted">Sent with your dashboard session: it counts against your limits and budgets like a key&apos;s call.</p>
      <div className="row-actions">
        <button type="submit" className="button" disabled={sending}>
          {sending ? "Sending…" : "Send"}
        </button>
        <button type="button" className="link-button" onClick={() => setOpen(false)}>
          Close
        </button>
      </div>
      {problem ? (
        <p className="form-error" role="alert">
          {problem}
        </p>
      ) : null}
      {answer ? (
        <div role="status" aria-label="Answer">
          <p>
            <code data-testid="try-status">{answer.status}</code> <span className="muted">in {answer.ms} ms</span>
          </p>
          <pre className={styles.example} data-testid="try-answer">
            {answer.text}
          </pre>
        </div>
      ) : null}
    </form>
  );
}
