"use client";
// The playground: pick a model (grouped by provider, with price and availability), write a prompt,
// watch the answer stream in, then see its tokens, cost and latency. Streams through the tRPC
// procedure `generation.stream`, which records usage exactly like the REST endpoint.
import { useMemo, useRef, useState } from "react";
import { EmptyState } from "./empty-state";
import styles from "./playground.module.css";
import { trpc } from "./trpc-provider";

type Outcome = {
  model: string;
  provider: string;
  finishReason: string;
  usage: { inputTokens: number; outputTokens: number; cachedInputTokens: number; reasoningTokens: number };
  cost: { input: string; output: string; total: string };
  latencyMs: number;
  ttftMs?: number;
};

export function Playground() {
  const models = trpc.models.list.useQuery({ type: "chat" });
  const utils = trpc.useUtils();
  const [modelId, setModelId] = useState<string>("");
  const [system, setSystem] = useState("You are a helpful assistant.");
  const [prompt, setPrompt] = useState("");
  const [temperature, setTemperature] = useState("0.7");
  const [maxTokens, setMaxTokens] = useState("512");
  const [output, setOutput] = useState("");
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [running, setRunning] = useState(false);
  const abort = useRef<AbortController | null>(null);

  const modelList = models.data;
  const byProvider = useMemo(() => {
    const groups = new Map<string, NonNullable<typeof modelList>>();
    for (const m of modelList ?? []) groups.set(m.provider, [...(groups.get(m.provider) ?? []), m]);
    return [...groups.entries()];
  }, [modelList]);

  const selected = models.data?.find((m) => m.id === modelId) ?? models.data?.find((m) => m.available) ?? models.data?.[0];

  if (models.error?.data?.code === "UNAUTHORIZED") {
    return (
      <EmptyState title="Sign in to use the playground">
        <p>
          <a className="button" href="/login?callbackUrl=/playground">
            Sign in
          </a>
        </p>
      </EmptyState>
    );
  }
  if (models.isPending) return <p role="status">Loading models…</p>;
  if (models.error) return <p className={styles.error}>Could not load the models: {models.error.message}</p>;
  if (!selected) return <EmptyState title="No chat models in the catalogue">An admin can add one on the Models page.</EmptyState>;

  async function run() {
    if (!selected || !prompt.trim()) return;
    const controller = new AbortController();
    abort.current = controller;
    setRunning(true);
    setOutput("");
    setOutcome(null);
    setError(null);
    const temp = Number(temperature);
    const max = Number(maxTokens);
    try {
      const events = await utils.client.generation.stream.mutate(
        {
          model: selected.id,
          messages: [...(system.trim() ? [{ role: "system" as const, content: system }] : []), { role: "user" as const, content: prompt }],
          ...(temperature !== "" && Number.isFinite(temp) ? { temperature: temp } : {}),
          ...(maxTokens !== "" && Number.isInteger(max) && max > 0 ? { maxTokens: max } : {}),
        },
        { signal: controller.signal },
      );
      for await (const event of events) {
        if (event.type === "delta") setOutput((text) => text + event.text);
        else setOutcome(event.outcome);
      }
    } catch (e) {
      if (!controller.signal.aborted) setError(e instanceof Error ? e.message : String(e));
    } finally {
      setRunning(false);
      abort.current = null;
    }
  }

  return (
    <div className={styles.layout}>
      <form
        className={styles.panel}
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        <label className="field">
          <span className="field-label">Model</span>
          <select value={selected.id} onChange={(e) => setModelId(e.target.value)} data-testid="model-picker">
            {byProvider.map(([provider, list]) => (
              <optgroup key={provider} label={provider}>
                {list.map((m) => (
                  <option key={m.id} value={m.id}>
                    {m.name} — ${m.pricePerMTok.input}/${m.pricePerMTok.output} per 1M{m.available ? "" : " (unavailable)"}
                  </option>
                ))}
              </optgroup>
            ))}
          </select>
        </label>
        <p className={styles.modelInfo}>
          {selected.id} · context {selected.contextWindow.toLocaleString()} tokens · ${selected.pricePer1K.input} in / $
          {selected.pricePer1K.output} out per 1K
        </p>
        {!selected.available ? (
          <p className={styles.unavailable} role="alert" data-testid="unavailable-reason">
            {selected.unavailableReason ?? "This model is unavailable."}
          </p>
        ) : null}
        <label className="field">
          <span className="field-label">System prompt</span>
          <textarea value={system} onChange={(e) => setSystem(e.target.value)} rows={3} />
        </label>
        <label className="field">
          <span className="field-label">Message</span>
          <textarea value={prompt} onChange={(e) => setPrompt(e.target.value)} rows={5} placeholder="Ask something…" data-testid="prompt" />
        </label>
        <div className={styles.row}>
          <label className="field">
            <span className="field-label">Temperature</span>
            <input type="number" min={0} max={2} step={0.1} value={temperature} onChange={(e) => setTemperature(e.target.value)} />
          </label>
          <label className="field">
            <span className="field-label">Max tokens</span>
            <input type="number" min={1} step={1} value={maxTokens} onChange={(e) => setMaxTokens(e.target.value)} />
          </label>
        </div>
        <div className={styles.actions}>
          <button className="button" type="submit" disabled={running || !prompt.trim() || !selected.available}>
            {running ? "Running…" : "Run"}
          </button>
          {running ? (
            <button className="button button-secondary" type="button" onClick={() => abort.current?.abort()}>
              Stop
            </button>
          ) : null}
        </div>
      </form>
      <section aria-label="Answer">
        <div className={styles.output} data-testid="output" aria-live="polite">
          {output || <span className={styles.placeholder}>{running ? "Waiting for the first token…" : "The answer streams here."}</span>}
        </div>
        {error ? (
          <p className={styles.error} role="alert" data-testid="run-error">
            {error}
          </p>
        ) : null}
        {outcome ? (
          <p className={styles.stats} data-testid="run-stats">
            <span>
              Tokens <strong>{outcome.usage.inputTokens}</strong> in / <strong>{outcome.usage.outputTokens}</strong> out
            </span>
            <span>
              Cost <strong data-testid="run-cost">${outcome.cost.total}</strong>
            </span>
            <span>
              Latency <strong>{outcome.latencyMs} ms</strong>
              {outcome.ttftMs !== undefined ? ` (first token ${outcome.ttftMs} ms)` : ""}
            </span>
            <span>
              {outcome.provider} · {outcome.model} · {outcome.finishReason}
            </span>
          </p>
        ) : null}
      </section>
    </div>
  );
}
