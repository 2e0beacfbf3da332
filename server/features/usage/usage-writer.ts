// The batched usage writer. A request records its usage event in memory and never waits for the
// database; the queue is flushed at least every second (and when a batch fills) as one statement:
// a multi-row insert of the events plus the matching update of the roll-up rows (daily, hourly,
// and their per-dimension forms: usage-rollups.ts), in one transaction. Events are never dropped: a
// failed flush puts the batch back and retries with backoff; past a bound, when the final flush on
// shutdown fails or does not finish within its deadline, and for events recorded after it, events go
// to a spool file in DATA_DIR (appended and fsynced) that is replayed when the next run starts.
//
// Exactly once: an event's id is fixed when it is recorded, inserting is idempotent by that id
// (ON CONFLICT DO NOTHING), and the roll-ups count only the rows that statement inserted, so writing
// an event again (a replay, a retry after a lost acknowledgement, a batch that a hung database
// committed after all) never counts it twice. A replay moves the spool to `<spool>.replaying` and
// deletes that file only once every event in it is in the database; a run stopped (or killed)
// before then leaves it for the next start, which merges any newer spool into it and replays it
// again (events deduplicated by id).
import type { UsageWriterStats } from "../../kernel/metrics.ts";
import { randomUUID } from "node:crypto";
import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { formatUsd, parseUsd, type CostBreakdown, type Pico } from "../catalogue/index.ts";
import { endpointKind, ROLLUP_EVENT_COLUMNS, rollupCtes, type UsageKind } from "./usage-rollups.ts";
import type { UsageStatus } from "../../../lib/usage.ts";
import type { Metadata } from "./attribution.ts";
import { packBody, type LoggedBody } from "./request-bodies.ts";

export type { UsageStatus } from "../../../lib/usage.ts";

export type UsageEventInput = {
  id?: string;
  createdAt: Date;
  requestId?: string | null;
  endpoint: string;
  /** What was called: text generation or embeddings, as the service that made the call says. */
  kind: UsageKind;
  modelId: string;
  provider: string;
  apiKeyId?: string | null;
  userId?: string | null;
  status: UsageStatus;
  errorCode?: string | null;
  stream: boolean;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  reasoningTokens: number;
  /** Input tokens written to the prompt cache (0 when absent). */
  cacheWriteTokens?: number;
  /** Of those, the 1-hour writes; audio and image input tokens (0 when absent). */
  cacheWrite1hTokens?: number;
  audioInputTokens?: number;
  imageInputTokens?: number;
  /** The service tier the provider says served the call; the price tier it was billed at (null: standard). */
  serviceTier?: string | null;
  priceTier?: string | null;
  inputCost: Pico;
  outputCost: Pico;
  totalCost: Pico;
  /** The cost in its parts (catalogue CostBreakdown); absent: not itemised (the event's `itemised` is false). */
  costParts?: CostBreakdown;
  /** What the response or embedding cache saved this call (0 when absent). */
  savedCost?: Pico;
  latencyMs: number;
  ttftMs?: number | null;
  /** The deployment that answered (or last failed) a routed call (features/routing). */
  deployment?: string | null;
  /** Provider calls a routed call made, across deployments and fallback models. */
  attempts?: number | null;
  /** Attribution (attribution.ts): distinct sorted tags, the end user, the session, the metadata. */
  tags?: string[];
  endUser?: string | null;
  sessionId?: string | null;
  metadata?: Metadata | null;
  /** The call's request and response, when they are to be stored (request-bodies.ts): redacted and compressed when written. */
  body?: LoggedBody | null;
  /** The calling key's team (rolled up as the `team` attribution). */
  teamId?: string | null;
};

type QueuedEvent = UsageEventInput & { id: string };

export type RawQuery = (sql: string, params?: unknown[]) => Promise<unknown[]>;

export type UsageWriterOptions = {
  /** Gives the SQL runner (opened lazily: the database may not be open when events arrive). */
  rawQuery: () => Promise<RawQuery>;
  log: Logger;
  flushIntervalMs?: number;
  /** Events per insert statement. */
  maxBatch?: number;
  /** Events held in memory before the overflow goes to the spool file. */
  maxBuffered?: number;
  /** File for events that could not be written (JSON lines); none: kept in memory only. */
  spoolFile?: string;
  /** Called after each batch is in the database (budget alerts evaluate there, off the request path); must not throw. */
  onWritten?: (batch: readonly UsageEventInput[]) => void;
};

export type { UsageWriterStats };

/** How long the final flush on shutdown may take before what is left goes to the spool file. */
export const STOP_TIMEOUT_MS = 5_000;
/** The longest wait between retries of a failed flush. */
const MAX_BACKOFF_MS = 5_000;

/** The inserted columns, in the order of `columns(batch)`, with the type each array parameter has. */
const INSERT_COLUMNS: [column: string, type: string][] = [
  ["id", "text"],
  ["created_at", "timestamptz"],
  ["request_id", "text"],
  ["endpoint", "text"],
  ["model_id", "text"],
  ["provider", "text"],
  ["api_key_id", "text"],
  ["user_id", "text"],
  ["status", "text"],
  ["error_code", "text"],
  ["stream", "boolean"],
  ["input_tokens", "int"],
  ["output_tokens", "int"],
  ["cached_input_tokens", "int"],
  ["reasoning_tokens", "int"],
  ["input_cost", "numeric"],
  ["output_cost", "numeric"],
  ["total_cost", "numeric"],
  ["latency_ms", "int"],
  ["ttft_ms", "int"],
  ["saved_cost", "numeric"],
  ["kind", "text"],
  ["deployment", "text"],
  ["attempts", "int"],
  ["cache_write_tokens", "int"],
  ["cache_write_1h_tokens", "int"],
  ["audio_input_tokens", "int"],
  ["image_input_tokens", "int"],
  ["service_tier", "text"],
  ["price_tier", "text"],
  ["itemised", "boolean"],
  ["cached_input_cost", "numeric"],
  ["cache_write_5m_cost", "numeric"],
  ["cache_write_1h_cost", "numeric"],
  ["audio_input_cost", "numeric"],
  ["image_input_cost", "numeric"],
  ["reasoning_cost", "numeric"],
  // An array per row cannot be a row of a 2-D parameter (its rows would need one length): the
  // tags travel comma-joined (a tag has no comma), the metadata as JSON text.
  ["tags", "text"],
  ["end_user", "text"],
  ["session_id", "text"],
  ["metadata", "text"],
  ["team_id", "text"],
];
const SELECTED: Record<string, string> = { tags: "string_to_array(u.tags, ',')", metadata: "u.metadata::jsonb" };

const BODY_PARAMS = INSERT_COLUMNS.length;

// One statement: the insert, then every roll-up (usage-rollups.ts) from the rows it returned, and
// the bodies of the events that have them (request_bodies: their own table, compressed).
const INSERT_SQL = `
WITH bodies AS (
  INSERT INTO request_bodies (event_id, created_at, body, size)
  SELECT b.event_id, b.created_at, decode(b.body, 'hex'), b.size
  FROM unnest($${BODY_PARAMS + 1}::text[], $${BODY_PARAMS + 2}::timestamptz[], $${BODY_PARAMS + 3}::text[], $${BODY_PARAMS + 4}::int[]) AS b(event_id, created_at, body, size)
  ON CONFLICT (event_id) DO NOTHING
),
ins AS (
  INSERT INTO usage_events (${INSERT_COLUMNS.map(([c]) => c).join(", ")})
  SELECT ${INSERT_COLUMNS.map(([c]) => SELECTED[c] ?? `u.${c}`).join(", ")}
  FROM unnest(${INSERT_COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(", ")}) AS u(${INSERT_COLUMNS.map(([c]) => c).join(", ")})
  ON CONFLICT (id) DO NOTHING
  RETURNING created_at, user_id, api_key_id, model_id, provider, endpoint, status, kind, input_tokens, output_tokens,
    cached_input_tokens, reasoning_tokens, total_cost, latency_ms, saved_cost, deployment, end_user, tags,
    team_id, itemised, ${ROLLUP_EVENT_COLUMNS.join(", ")}
),${rollupCtes("ins")}
SELECT count(*)::int AS inserted FROM ins`;

export class UsageWriter {
  private queue: QueuedEvent[] = [];
  /** The batch being written now: out of the queue, so that a spill cannot touch it. */
  private inFlight: QueuedEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private failures = 0;
  private retryAt = 0;
  private stopped = false;
  /** Ids of the replayed events not yet in the database; the replay file goes once it is empty. */
  private replaying: Set<string> | undefined;
  private stats: UsageWriterStats = { queued: 0, written: 0, failedFlushes: 0, spooled: 0 };
  private readonly flushIntervalMs: number;
  private readonly maxBatch: number;
  private readonly maxBuffered: number;

  constructor(private readonly options: UsageWriterOptions) {
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.maxBatch = options.maxBatch ?? 2000;
    this.maxBuffered = options.maxBuffered ?? 200_000;
  }

  /** Replays events spooled by an earlier run and starts the periodic flush. */
  start(): void {
    if (this.timer) return;
    this.replaySpool();
    this.timer = setInterval(() => void this.scheduledFlush().catch(() => {}), this.flushIntervalMs);
    this.timer.unref();
  }

  /** Queues one event; returns at once. After `stop`, the event goes straight to the spool file. */
  record(event: UsageEventInput): string {
    const queued: QueuedEvent = { ...event, id: event.id ?? timeOrderedId(event.createdAt) };
    if (this.stopped) {
      this.spill([queued]);
      return queued.id;
    }
    this.queue.push(queued);
    this.stats.queued = this.queue.length;
    if (this.queue.length > this.maxBuffered) this.spill(this.queue.splice(0, this.queue.length - this.maxBuffered));
    else if (this.queue.length >= this.maxBatch) void this.scheduledFlush().catch(() => {});
    return queued.id;
  }

  /** Events not yet in the database (queued or being written). */
  pending(): readonly UsageEventInput[] {
    return this.inFlight.length ? [...this.inFlight, ...this.queue] : this.queue;
  }

  getStats(): UsageWriterStats {
    return { ...this.stats, queued: this.queue.length + this.inFlight.length };
  }

  /** Writes everything queued so far (in batches), now, even while the periodic flush backs off; rejects if the database refuses, keeping the events. */
  flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /**
   * Stops the timer and writes what is left within `timeoutMs`; whatever is not written by then
   * (the database refused, or did not answer: a batch stuck in a hung write included) goes to the
   * spool file, and so does any event recorded afterwards.
   */
  async stop(timeoutMs = STOP_TIMEOUT_MS): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.stopped = true;
    this.retryAt = 0;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      (async () => {
        await this.flushing?.catch(() => {});
        await this.flush();
        return "written" as const;
      })().catch((err: unknown) => ({ err })),
      new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (outcome === "written") return;
    // A batch stuck in a hung write may still be committed later; spooled too, it is then written
    // once all the same (inserts are idempotent by id).
    const left = [...this.inFlight, ...this.queue];
    this.queue = [];
    this.options.log.error(
      { err: outcome === "late" ? `no answer within ${timeoutMs} ms` : outcome.err, events: left.length },
      "final usage flush failed; spooling the events to disk",
    );
    this.spill(left);
  }

  /** The timer's and a full batch's flush: skipped while backing off after a failure. */
  private scheduledFlush(): Promise<void> {
    return Date.now() < this.retryAt ? Promise.resolve() : this.flush();
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight = batch;
      try {
        const rawQuery = await this.options.rawQuery();
        await rawQuery(INSERT_SQL, columns(batch));
      } catch (err) {
        this.queue.unshift(...batch);
        this.failures++;
        this.stats.failedFlushes++;
        // Exponential backoff, capped; the events stay at the head of the queue.
        const delay = Math.min(MAX_BACKOFF_MS, this.flushIntervalMs * 2 ** Math.min(this.failures - 1, 5));
        this.retryAt = Date.now() + delay;
        this.options.log.error({ err, events: this.queue.length, retryInMs: delay }, "usage flush failed; will retry");
        throw err;
      } finally {
        this.inFlight = [];
      }
      this.failures = 0;
      this.retryAt = 0;
      this.stats.written += batch.length;
      this.replayWritten(batch);
      try {
        this.options.onWritten?.(batch);
      } catch (err) {
        this.options.log.warn({ err }, "a usage-written listener failed");
      }
    }
  }

  /** Appends events to the spool file and makes them durable before returning. */
  private spill(events: QueuedEvent[]): void {
    if (events.length === 0) return;
    const file = this.options.spoolFile;
    if (!file) {
      // No spool file: keep them in memory rather than lose them.
      this.queue.unshift(...events);
      return;
    }
    appendDurably(file, events.map((e) => JSON.stringify(serialise(e))).join("\n") + "\n");
    this.stats.spooled += events.length;
    this.options.log.warn({ events: events.length, file }, "usage events spooled to disk");
  }

  private replaySpool(): void {
    const file = this.options.spoolFile;
    if (!file) return;
    const replayFile = `${file}.replaying`;
    // A newer spool joins what an earlier replay left (the copy first, then the removal: a crash
    // between the two only duplicates lines, which the ids deduplicate).
    if (existsSync(file)) {
      appendDurably(replayFile, readFileSync(file, "utf8"));
      rmSync(file, { force: true });
    }
    if (!existsSync(replayFile)) return;
    const byId = new Map<string, QueuedEvent>();
    let unreadable = 0;
    for (const line of readFileSync(replayFile, "utf8").split("\n")) {
      if (!line.trim()) continue;
      try {
        const e = deserialise(JSON.parse(line) as SerialisedEvent);
        byId.set(e.id, e);
      } catch {
        // A line cut short by a crash while it was appended: its event was never acknowledged as spooled.
        unreadable++;
      }
    }
    const events = [...byId.values()];
    this.replaying = new Set(byId.keys());
    this.queue.unshift(...events);
    this.options.log.info({ events: events.length, unreadable, file: replayFile }, "replaying spooled usage events");
    if (events.length === 0) this.replayWritten([]);
    void this.flush().catch(() => {
      // Still failing: they stay queued, and the periodic flush retries.
    });
  }

  /** Notes replayed events that are now in the database; removes the replay file once all are. */
  private replayWritten(batch: readonly QueuedEvent[]): void {
    if (!this.replaying) return;
    for (const e of batch) this.replaying.delete(e.id);
    if (this.replaying.size > 0) return;
    this.replaying = undefined;
    rmSync(`${this.options.spoolFile}.replaying`, { force: true });
  }
}

/** Appends lines to a JSON-lines file and fsyncs it; after a line a crash cut short, on a line of their own. */
function appendDurably(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const fd = openSync(file, "a+");
  try {
    const size = fstatSync(fd).size;
    const last = Buffer.alloc(1);
    if (size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a) writeSync(fd, "\n");
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * A UUIDv7-style id: the event's time (48 bits of ms) first, then random bits. New ids land at the
 * right-hand end of the primary-key index instead of at random places in it, which keeps inserts
 * cheap once the table outgrows memory.
 */
export function timeOrderedId(at: Date): string {
  const random = randomUUID();
  const ms = Math.max(0, Math.min(at.getTime(), 2 ** 48 - 1));
  const t = ms.toString(16).padStart(12, "0");
  return `${t.slice(0, 8)}-${t.slice(8)}-7${random.slice(15)}`;
}

type SerialisedEvent = Omit<QueuedEvent, "createdAt" | "inputCost" | "outputCost" | "totalCost" | "savedCost" | "kind" | "costParts"> & {
  kind?: UsageKind;
  costParts?: Record<string, string>;
  createdAt: string;
  inputCost: string;
  outputCost: string;
  totalCost: string;
  savedCost?: string;
};

function serialise({ savedCost, costParts, ...e }: QueuedEvent): SerialisedEvent {
  return {
    ...e,
    ...(costParts ? { costParts: Object.fromEntries(Object.entries(costParts).map(([k, v]) => [k, formatUsd(v)])) } : {}),
    createdAt: e.createdAt.toISOString(),
    inputCost: formatUsd(e.inputCost),
    outputCost: formatUsd(e.outputCost),
    totalCost: formatUsd(e.totalCost),
    ...(savedCost ? { savedCost: formatUsd(savedCost) } : {}),
  };
}

function deserialise({ savedCost, costParts, ...e }: SerialisedEvent): QueuedEvent {
  return {
    ...e,
    ...(costParts ? { costParts: Object.fromEntries(Object.entries(costParts).map(([k, v]) => [k, parseUsd(v)])) as CostBreakdown } : {}),
    // Spooled by a version that did not record the kind: the guess that version's roll-ups made.
    kind: e.kind ?? endpointKind(e.endpoint),
    createdAt: new Date(e.createdAt),
    inputCost: parseUsd(e.inputCost),
    outputCost: parseUsd(e.outputCost),
    totalCost: parseUsd(e.totalCost),
    ...(savedCost ? { savedCost: parseUsd(savedCost) } : {}),
  };
}

/** The cost parts with a column of their own, in INSERT_COLUMNS' order (plain input and output are input_cost and output_cost less these). */
const PART_COLUMNS = [
  "cachedInput",
  "cacheWrite5m",
  "cacheWrite1h",
  "audioInput",
  "imageInput",
  "reasoning",
] as const satisfies readonly (keyof CostBreakdown)[];

/** The batch as one array per column, in INSERT_SQL's order, then the bodies' four. */
function columns(batch: QueuedEvent[]): unknown[] {
  const withBody = batch.filter((e) => e.body);
  const packed = withBody.map((e) => packBody(e.body!));
  return [
    ...eventColumns(batch),
    withBody.map((e) => e.id),
    withBody.map((e) => e.createdAt.toISOString()),
    packed.map((p) => p.data.toString("hex")),
    packed.map((p) => p.size),
  ];
}

function eventColumns(batch: QueuedEvent[]): unknown[] {
  return [
    batch.map((e) => e.id),
    batch.map((e) => e.createdAt.toISOString()),
    batch.map((e) => e.requestId ?? null),
    batch.map((e) => e.endpoint),
    batch.map((e) => e.modelId),
    batch.map((e) => e.provider),
    batch.map((e) => e.apiKeyId ?? null),
    batch.map((e) => e.userId ?? null),
    batch.map((e) => e.status),
    batch.map((e) => e.errorCode ?? null),
    batch.map((e) => e.stream),
    batch.map((e) => e.inputTokens),
    batch.map((e) => e.outputTokens),
    batch.map((e) => e.cachedInputTokens),
    batch.map((e) => e.reasoningTokens),
    batch.map((e) => formatUsd(e.inputCost)),
    batch.map((e) => formatUsd(e.outputCost)),
    batch.map((e) => formatUsd(e.totalCost)),
    batch.map((e) => e.latencyMs),
    batch.map((e) => e.ttftMs ?? null),
    batch.map((e) => formatUsd(e.savedCost ?? 0n)),
    batch.map((e) => e.kind),
    batch.map((e) => e.deployment ?? null),
    batch.map((e) => e.attempts ?? null),
    batch.map((e) => e.cacheWriteTokens ?? 0),
    batch.map((e) => e.cacheWrite1hTokens ?? 0),
    batch.map((e) => e.audioInputTokens ?? 0),
    batch.map((e) => e.imageInputTokens ?? 0),
    batch.map((e) => e.serviceTier ?? null),
    batch.map((e) => e.priceTier ?? null),
    batch.map((e) => e.costParts !== undefined),
    ...PART_COLUMNS.map((part) => batch.map((e) => formatUsd(e.costParts?.[part] ?? 0n))),
    batch.map((e) => (e.tags ?? []).join(",")),
    batch.map((e) => e.endUser ?? null),
    batch.map((e) => e.sessionId ?? null),
    batch.map((e) => (e.metadata ? JSON.stringify(e.metadata) : null)),
    batch.map((e) => e.teamId ?? null),
  ];
}
