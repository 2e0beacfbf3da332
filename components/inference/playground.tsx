"use client";
// The playground: a conversation with one model, or the same prompt side by side on up to three,
// each answer streamed with its tokens, cost, latency and time to first token. The model picker is
// searchable and grouped by provider with prices and context; the default is the cheapest
// available model. The prompt's tokens are counted as you type (generation.promptTokens), with a
// warning before it passes the model's context or a cost you set. Ctrl/Cmd+Enter runs; Stop cuts
// the stream and still shows what the call cost (generation.recordedRun, by its request id). JSON
// mode and tools (a JSON schema per function); "View code" shows the same request as curl, Python,
// TypeScript and our typed client. Runs go through the tRPC procedure `generation.stream`, which
// records usage exactly as the REST endpoint does; a dashboard session has its own limit for them.
import { useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { EmptyState } from "../shared/empty-state";
import { CodeBlock } from "../shared/code-block";
import { DEFAULT_ORIGIN } from "../shared/origin";
import styles from "./playground.module.css";
import { trpc } from "../shared/trpc-provider";
import type { RouterOutputs } from "../wire";
import { requestCode, type PlaygroundRequest } from "./request-code";

type StreamEvent = RouterOutputs["generation"]["stream"] extends AsyncIterable<infer E> ? E : never;
type Outcome = Extract<StreamEvent, { type: "done" }>["outcome"];
type Model = RouterOutputs["models"]["list"][number];
type Message = { role: "user" | "assistant"; content: string };

/** What one column shows: the answer so far, and how the run ended. */
type Run = {
  model: string;
  text: string;
  running: boolean;
  requestId?: string;
  outcome?: Outcome;
  /** Stopped by the user: what the service recorded for the call (null while it is not written yet). */
  stopped?: { inputTokens: number; outputTokens: number; cost: string; latencyMs: number } | null;
  error?: string;
};

const MAX_COMPARE = 3;
const subscribe = () => () => {};

/** The cheapest available model (input plus output price per 1M), else the first. */
function cheapest(models: readonly Model[]): Model | undefined {
  const price = (m: Model) => Number(m.pricePerMTok.input) + Number(m.pricePerMTok.output);
  return [...models].filter((m) => m.available).sort((a, b) => price(a) - price(b))[0] ?? models[0];
}

function contextLabel(tokens: number): string {
  return tokens >= 1_000_000 ? `${tokens / 1_000_000}M` : tokens >= 1000 ? `${Math.round(tokens / 1000)}K` : String(tokens);
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

/** The JSON of the tools field: an array of { name, description?, parameters }; a message when it is not. */
function parseTools(text: string): { tools?: PlaygroundRequest["tools"]; error?: string } {
  if (!text.trim()) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { error: `Tools: not JSON (${e instanceof Error ? e.message : String(e)})` };
  }
  if (!Array.isArray(value)) return { error: "Tools: a JSON array of { name, description, parameters }" };
  for (const [i, t] of value.entries()) {
    const tool = t as { name?: unknown; parameters?: unknown };
    if (typeof tool?.name !== "string" || !/^[a-zA-Z0-9_-]{1,64}$/.test(tool.name))
      return { error: `Tools: item ${i + 1} needs a name of 1 to 64 letters, digits, _ or -` };
    if (typeof tool.parameters !== "object" || tool.parameters === null || Array.isArray(tool.parameters))
      return { error: `Tools: item ${i + 1} needs parameters, a JSON schema object` };
  }
  return { tools: value as PlaygroundRequest["tools"] };
}

function parseSchema(text: string): { schema?: Record<string, unknown>; error?: string } {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== "object" || value === null || Array.isArray(value)) return { error: "JSON schema: an object" };
    return { schema: value as Record<string, unknown> };
  } catch (e) {
    return { error: `JSON schema: not JSON (${e instanceof Error ? e.message : String(e)})` };
  }
}

function ModelPicker({
  models,
  value,
  onChange,
  testId,
  label,
}: {
  models: readonly Model[];
  value: string;
  onChange: (id: string) => void;
  testId: string;
  label: string;
}) {
  const [search, setSearch] = useState("");
  const groups = useMemo(() => {
    const q = search.trim().toLowerCase();
    const shown = q ? models.filter((m) => m.id === value || `${m.id} ${m.name} ${m.providerName}`.toLowerCase().includes(q)) : models;
    const byProvider = new Map<string, Model[]>();
    for (const m of shown) byProvider.set(m.providerName, [...(byProvider.get(m.providerName) ?? []), m]);
    return [...byProvider.entries()];
  }, [models, search, value]);
  return (
    <div className={styles.picker}>
      <label className="field">
        <span className="field-label">{label}</span>
        <select value={value} onChange={(e) => onChange(e.target.value)} data-testid={testId}>
          {groups.map(([provider, list]) => (
            <optgroup key={provider} label={provider}>
              {list.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name} — ${m.pricePerMTok.input}/${m.pricePerMTok.output} per 1M · {contextLabel(m.contextWindow)} context
                  {m.available ? "" : " (unavailable)"}
                </option>
              ))}
            </optgroup>
          ))}
        </select>
      </label>
      <input
        className={styles.search}
        type="search"
        placeholder="Search models…"
        value={search}
        onChange={(e) => setSearch(e.target.value)}
        aria-label={`Search ${label.toLowerCase()}`}
        data-testid={`${testId}-search`}
      />
    </div>
  );
}

function RunStats({ run }: { run: Run }) {
  if (run.outcome) {
    const o = run.outcome;
    return (
      <p className={styles.stats} data-testid="run-stats">
        <span>
          Tokens <strong>{o.usage.inputTokens}</strong> in / <strong>{o.usage.outputTokens}</strong> out
        </span>
        <span>
          Cost <strong data-testid="run-cost">${o.cost.total}</strong>
        </span>
        <span>
          Latency <strong>{o.latencyMs} ms</strong>
          {o.ttftMs !== undefined ? ` (first token ${o.ttftMs} ms)` : ""}
        </span>
        <span>
          {o.provider} · {o.model} · {o.finishReason}
        </span>
      </p>
    );
  }
  if (run.stopped !== undefined) {
    const s = run.stopped;
    return (
      <p className={styles.stats} data-testid="run-stats">
        <span className={styles.stoppedBadge} data-testid="run-stopped">
          Stopped
        </span>
        {s ? (
          <>
            <span>
              Tokens <strong>{s.inputTokens}</strong> in / <strong>{s.outputTokens}</strong> out
            </span>
            <span>
              Cost <strong data-testid="run-cost">${s.cost}</strong>
            </span>
            <span>
              Latency <strong>{s.latencyMs} ms</strong>
            </span>
          </>
        ) : (
          <span>Looking up what it cost…</span>
        )}
      </p>
    );
  }
  return null;
}

export function Playground() {
  const models = trpc.models.list.useQuery({ type: "chat" });
  const utils = trpc.useUtils();
  const origin = useSyncExternalStore(
    subscribe,
    () => window.location.origin,
    () => DEFAULT_ORIGIN,
  );
  const [picked, setPicked] = useState<string[]>([]);
  const [system, setSystem] = useState("You are a helpful assistant.");
  const [turns, setTurns] = useState<Message[]>([]);
  /** The message of the last run, shown above its answers (committed to `turns` by the next run). */
  const [lastPrompt, setLastPrompt] = useState<string | null>(null);
  const [prompt, setPrompt] = useState("");
  const [temperature, setTemperature] = useState("0.7");
  const [maxTokens, setMaxTokens] = useState("512");
  const [jsonMode, setJsonMode] = useState<"off" | "json_object" | "json_schema">("off");
  const [schemaText, setSchemaText] = useState(
    '{\n  "type": "object",\n  "properties": { "answer": { "type": "string" } },\n  "required": ["answer"]\n}',
  );
  const [toolsText, setToolsText] = useState("");
  const [warnUsd, setWarnUsd] = useState("0.05");
  const [runs, setRuns] = useState<Run[]>([]);
  /** In a compare, the column whose answer the conversation continues with. */
  const [chosen, setChosen] = useState(0);
  const [showCode, setShowCode] = useState(false);
  const [editing, setEditing] = useState<number | null>(null);
  const controllers = useRef<AbortController[]>([]);

  const list = useMemo(() => models.data ?? [], [models.data]);
  const fallback = useMemo(() => cheapest(list), [list]);
  const selectedIds = picked.length ? picked : fallback ? [fallback.id] : [];
  const selected = selectedIds.map((id) => list.find((m) => m.id === id)).filter((m): m is Model => m !== undefined);
  const primary = selected[0];
  const running = runs.some((r) => r.running);
  const comparing = selectedIds.length > 1;

  const messages = useMemo(() => {
    const history: Message[] = [...turns];
    const last = runs[chosen] ?? runs[0];
    if (lastPrompt !== null && last && !last.running && last.text)
      history.push({ role: "user", content: lastPrompt }, { role: "assistant", content: last.text });
    return history;
  }, [turns, lastPrompt, runs, chosen]);

  const toolsParsed = parseTools(toolsText);
  const schemaParsed = jsonMode === "json_schema" ? parseSchema(schemaText) : {};
  const formError = toolsParsed.error ?? schemaParsed.error;

  const allMessages = [
    ...(system.trim() ? [{ role: "system" as const, content: system }] : []),
    ...messages,
    ...(prompt.trim() ? [{ role: "user" as const, content: prompt }] : []),
  ];
  const [countInput, setCountInput] = useState<{ messages: typeof allMessages; tools?: unknown[] } | null>(null);
  const countKey = JSON.stringify([allMessages, toolsParsed.tools ?? null]);
  useEffect(() => {
    const timer = setTimeout(() => {
      const parsed = JSON.parse(countKey) as [typeof allMessages, unknown[] | null];
      setCountInput(parsed[0].length ? { messages: parsed[0], ...(parsed[1] ? { tools: parsed[1] } : {}) } : null);
    }, 300);
    return () => clearTimeout(timer);
  }, [countKey]);
  const tokenCount = trpc.generation.promptTokens.useQuery(countInput ?? { messages: [{ role: "user", content: "" }] }, {
    enabled: countInput !== null,
    placeholderData: (previous) => previous,
  });
  const promptTokens = countInput && tokenCount.data ? tokenCount.data.tokens : null;

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
  if (!primary) return <EmptyState title="No chat models in the catalogue">An admin can add one on the Models page.</EmptyState>;

  const samplingFixed = selected.some((m) => m.samplingFixed);
  const temp = Number(temperature);
  const max = Number(maxTokens);
  const request = (model: Model): PlaygroundRequest => ({
    model: model.id,
    messages: allMessages,
    ...(!model.samplingFixed && temperature !== "" && Number.isFinite(temp) ? { temperature: temp } : {}),
    ...(maxTokens !== "" && Number.isInteger(max) && max > 0 ? { maxTokens: max } : {}),
    ...(toolsParsed.tools?.length ? { tools: toolsParsed.tools } : {}),
    ...(jsonMode === "json_object"
      ? { responseFormat: { type: "json_object" as const } }
      : jsonMode === "json_schema" && schemaParsed.schema
        ? { responseFormat: { type: "json_schema" as const, name: "answer", schema: schemaParsed.schema } }
        : {}),
  });

  // Warnings before a run: past a model's context, or an input costing more than the set amount.
  const warnings: string[] = [];
  if (promptTokens !== null) {
    for (const m of selected) {
      if (promptTokens > m.contextWindow)
        warnings.push(
          `${m.name}: the prompt (${plural(promptTokens, "token")}) is longer than its context of ${plural(m.contextWindow, "token")}`,
        );
      const inputUsd = (promptTokens * Number(m.pricePerMTok.input)) / 1_000_000;
      const limit = Number(warnUsd);
      if (warnUsd !== "" && Number.isFinite(limit) && inputUsd > limit)
        warnings.push(`${m.name}: the prompt alone costs about $${inputUsd.toFixed(4)}, more than your $${warnUsd}`);
    }
  }
  const unavailable = selected.filter((m) => !m.available);
  const canRun = !running && prompt.trim() !== "" && unavailable.length === 0 && !formError;

  function setModelAt(index: number, id: string) {
    const next = [...selectedIds];
    next[index] = id;
    setPicked(next);
  }

  async function runOne(index: number, model: Model, controller: AbortController) {
    const update = (patch: Partial<Run>) => setRuns((all) => all.map((r, i) => (i === index ? { ...r, ...patch } : r)));
    let requestId: string | undefined;
    try {
      const events = await utils.client.generation.stream.mutate(request(model), { signal: controller.signal });
      for await (const event of events) {
        if (event.type === "start") {
          requestId = event.requestId;
          update({ requestId });
        } else if (event.type === "delta") setRuns((all) => all.map((r, i) => (i === index ? { ...r, text: r.text + event.text } : r)));
        else update({ outcome: event.outcome });
      }
      update({ running: false });
    } catch (e) {
      if (!controller.signal.aborted) update({ running: false, error: e instanceof Error ? e.message : String(e) });
      else {
        update({ running: false, stopped: null });
        if (requestId) void lookUpStopped(index, requestId);
      }
    }
  }

  /** The usage event of a stopped run: written by the service's batched writer a moment after the cut. */
  async function lookUpStopped(index: number, requestId: string) {
    for (let attempt = 0; attempt < 20; attempt++) {
      await new Promise((r) => setTimeout(r, 250 + attempt * 100));
      const call = await utils.client.generation.recordedRun.query({ requestId }).catch(() => null);
      if (call) {
        setRuns((all) => all.map((r, i) => (i === index ? { ...r, stopped: call } : r)));
        return;
      }
    }
  }

  function run() {
    if (!canRun) return;
    // The previous exchange joins the conversation (in a compare: the chosen column's answer).
    setTurns(messages);
    setLastPrompt(prompt);
    setChosen(0);
    setEditing(null);
    const fresh = selected.map((m) => ({ model: m.id, text: "", running: true }));
    setRuns(fresh);
    controllers.current = selected.map(() => new AbortController());
    setPrompt("");
    selected.forEach((m, i) => void runOne(i, m, controllers.current[i]!));
  }

  function stop() {
    for (const c of controllers.current) c.abort();
  }

  function clear() {
    stop();
    setTurns([]);
    setLastPrompt(null);
    setRuns([]);
    setEditing(null);
  }

  const codes = requestCode(origin, request(primary));

  return (
    <div className={styles.layout}>
      <form
        className={styles.panel}
        onSubmit={(e) => {
          e.preventDefault();
          run();
        }}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
            e.preventDefault();
            run();
          }
        }}
      >
        {selectedIds.map((id, i) => (
          <div key={i} className={styles.pickerRow}>
            <ModelPicker
              models={list}
              value={id}
              onChange={(v) => setModelAt(i, v)}
              testId={i === 0 ? "model-picker" : `model-picker-${i + 1}`}
              label={comparing ? `Model ${i + 1}` : "Model"}
            />
            {i > 0 ? (
              <button
                type="button"
                className="button button-secondary"
                onClick={() => setPicked(selectedIds.filter((_, j) => j !== i))}
                aria-label={`Remove model ${i + 1}`}
              >
                Remove
              </button>
            ) : null}
          </div>
        ))}
        {selectedIds.length < MAX_COMPARE ? (
          <button
            type="button"
            className="button button-secondary"
            onClick={() => setPicked([...selectedIds, selectedIds[selectedIds.length - 1]!])}
            data-testid="add-compare"
          >
            Compare with another model
          </button>
        ) : null}
        <p className={styles.modelInfo}>
          {primary.id} · context {primary.contextWindow.toLocaleString()} tokens · ${primary.pricePer1K.input} in / $
          {primary.pricePer1K.output} out per 1K
        </p>
        {unavailable.map((m) => (
          <p key={m.id} className={styles.unavailable} role="alert" data-testid="unavailable-reason">
            {comparing ? `${m.name}: ` : ""}
            {m.unavailableReason ?? "This model is unavailable."}
          </p>
        ))}
        <label className="field">
          <span className="field-label">System prompt</span>
          <textarea value={system} onChange={(e) => setSystem(e.target.value)} rows={3} />
        </label>
        <label className="field">
          <span className="field-label">Message</span>
          <textarea
            value={prompt}
            onChange={(e) => setPrompt(e.target.value)}
            rows={5}
            placeholder={messages.length ? "Reply…" : "Ask something…"}
            data-testid="prompt"
          />
        </label>
        <p className={styles.modelInfo} data-testid="prompt-tokens" aria-live="polite">
          {promptTokens === null ? "The prompt's tokens are counted as you type." : `Prompt: ${plural(promptTokens, "token")} (estimate)`}
        </p>
        {warnings.map((w) => (
          <p key={w} className={styles.warning} role="status" data-testid="prompt-warning">
            {w}
          </p>
        ))}
        <div className={styles.row}>
          <label className="field">
            <span className="field-label">Temperature</span>
            <input
              type="number"
              min={0}
              max={2}
              step={0.1}
              value={samplingFixed ? "" : temperature}
              placeholder={samplingFixed ? "fixed by the model" : ""}
              disabled={samplingFixed}
              onChange={(e) => setTemperature(e.target.value)}
              title={samplingFixed ? "This model takes only its default temperature; none is sent." : undefined}
              data-testid="temperature"
            />
          </label>
          <label className="field">
            <span className="field-label">Max tokens</span>
            <input type="number" min={1} step={1} value={maxTokens} onChange={(e) => setMaxTokens(e.target.value)} />
          </label>
        </div>
        <div className={styles.row}>
          <label className="field">
            <span className="field-label">Response</span>
            <select value={jsonMode} onChange={(e) => setJsonMode(e.target.value as typeof jsonMode)} data-testid="json-mode">
              <option value="off">Text</option>
              <option value="json_object">JSON object</option>
              <option value="json_schema">JSON matching a schema</option>
            </select>
          </label>
          <label className="field">
            <span className="field-label">Warn above (USD)</span>
            <input type="number" min={0} step={0.01} value={warnUsd} onChange={(e) => setWarnUsd(e.target.value)} data-testid="warn-usd" />
          </label>
        </div>
        {jsonMode === "json_schema" ? (
          <label className="field">
            <span className="field-label">JSON schema</span>
            <textarea
              className={styles.code}
              value={schemaText}
              onChange={(e) => setSchemaText(e.target.value)}
              rows={6}
              spellCheck={false}
            />
          </label>
        ) : null}
        <details>
          <summary>Tools</summary>
          <label className="field">
            <span className="field-label">
              Functions (JSON: [{"{"} name, description, parameters {"}"}])
            </span>
            <textarea
              className={styles.code}
              value={toolsText}
              onChange={(e) => setToolsText(e.target.value)}
              rows={6}
              spellCheck={false}
              placeholder='[{ "name": "get_weather", "description": "Weather for a city", "parameters": { "type": "object", "properties": { "city": { "type": "string" } } } }]'
              data-testid="tools"
            />
          </label>
        </details>
        {formError ? (
          <p className={styles.unavailable} role="alert" data-testid="form-error">
            {formError}
          </p>
        ) : null}
        <div className={styles.actions}>
          <button className="button" type="submit" disabled={!canRun} title="Ctrl+Enter (⌘+Enter)">
            {running ? "Running…" : "Run"}
          </button>
          {running ? (
            <button className="button button-secondary" type="button" onClick={stop}>
              Stop
            </button>
          ) : null}
          <button className="button button-secondary" type="button" onClick={() => setShowCode((v) => !v)} aria-expanded={showCode}>
            {showCode ? "Hide code" : "View code"}
          </button>
          {messages.length || runs.length ? (
            <button className="button button-secondary" type="button" onClick={clear} data-testid="clear-conversation">
              Clear
            </button>
          ) : null}
        </div>
        <p className={styles.hint}>Ctrl+Enter (⌘+Enter) runs.</p>
      </form>
      <section aria-label="Conversation" className={styles.conversation}>
        {showCode ? (
          <div className={styles.codeSamples} data-testid="view-code">
            <h3>curl</h3>
            <CodeBlock label="curl">{codes.curl}</CodeBlock>
            <h3>Python (openai)</h3>
            <CodeBlock label="Python">{codes.python}</CodeBlock>
            <h3>TypeScript (openai)</h3>
            <CodeBlock label="TypeScript">{codes.typescript}</CodeBlock>
            <h3>TypeScript (model-service/client)</h3>
            <CodeBlock label="Typed client">{codes.client}</CodeBlock>
          </div>
        ) : null}
        {turns.map((t, i) => (
          <div key={i} className={t.role === "user" ? styles.userTurn : styles.assistantTurn} data-testid="turn">
            <div className={styles.turnHead}>
              <span className={styles.role}>{t.role === "user" ? "You" : "Assistant"}</span>
              {!running ? (
                <span className={styles.turnActions}>
                  <button type="button" className={styles.linkButton} onClick={() => setEditing(editing === i ? null : i)}>
                    {editing === i ? "Done" : "Edit"}
                  </button>
                  <button type="button" className={styles.linkButton} onClick={() => setTurns(turns.filter((_, j) => j !== i))}>
                    Delete
                  </button>
                </span>
              ) : null}
            </div>
            {editing === i ? (
              <textarea
                className={styles.turnEdit}
                value={t.content}
                onChange={(e) => setTurns(turns.map((u, j) => (j === i ? { ...u, content: e.target.value } : u)))}
                aria-label={`Edit message ${i + 1}`}
              />
            ) : (
              <div className={styles.turnText}>{t.content}</div>
            )}
          </div>
        ))}
        {lastPrompt !== null ? (
          <div className={styles.userTurn} data-testid="turn">
            <div className={styles.turnHead}>
              <span className={styles.role}>You</span>
            </div>
            <div className={styles.turnText}>{lastPrompt}</div>
          </div>
        ) : null}
        <div className={comparing && runs.length > 1 ? styles.columns : undefined}>
          {(runs.length ? runs : [{ model: primary.id, text: "", running: false } as Run]).map((r, i) => (
            <div key={i} className={styles.column} data-testid={`answer-${i + 1}`}>
              {runs.length > 1 ? (
                <div className={styles.turnHead}>
                  <span className={styles.role}>{list.find((m) => m.id === r.model)?.name ?? r.model}</span>
                  {!r.running && r.text && !running ? (
                    <label className={styles.choose}>
                      <input type="radio" name="continue-with" checked={chosen === i} onChange={() => setChosen(i)} /> continue with this
                    </label>
                  ) : null}
                </div>
              ) : null}
              <div className={styles.output} data-testid={i === 0 ? "output" : `output-${i + 1}`} aria-live="polite">
                {r.text || (
                  <span className={styles.placeholder}>{r.running ? "Waiting for the first token…" : "The answer streams here."}</span>
                )}
              </div>
              {r.outcome?.toolCalls?.length ? (
                <pre className={styles.toolCalls} data-testid="tool-calls">
                  {r.outcome.toolCalls.map((c) => `${c.name}(${c.arguments})`).join("\n")}
                </pre>
              ) : null}
              {r.error ? (
                <p className={styles.error} role="alert" data-testid="run-error">
                  {r.error}
                </p>
              ) : null}
              <RunStats run={r} />
            </div>
          ))}
        </div>
      </section>
    </div>
  );
}
