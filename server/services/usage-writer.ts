// The batched usage writer. A request records its usage event in memory and never waits for the
// database; the queue is flushed at least every second (and when a batch fills) as one statement:
// a multi-row insert of the events plus the matching update of the roll-up rows (daily, hourly,
// and their per-dimension forms: usage-rollups.ts), in one transaction. Events are never dropped: a failed flush puts the batch back and retries with
// backoff; past a bound, or when the final flush on shutdown fails, events go to a spool file in
// DATA_DIR that is replayed on the next start. Inserting is idempotent by event id, and the
// roll-up counts only rows actually inserted, so a replay never counts an event twice.
import { randomUUID } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { formatUsd, parseUsd, type Pico } from "./pricing.ts";
import { endpointKind, rollupCtes, type UsageKind } from "./usage-rollups.ts";

export type UsageStatus = "success" | "error" | "cached";

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
  inputCost: Pico;
  outputCost: Pico;
  totalCost: Pico;
  /** What the response or embedding cache saved this call (0 when absent). */
  savedCost?: Pico;
  latencyMs: number;
  ttftMs?: number | null;
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

export type UsageWriterStats = { queued: number; written: number; failedFlushes: number; spooled: number };

// One statement: the insert, then every roll-up (usage-rollups.ts) from the rows it returned.
const INSERT_SQL = `
WITH ins AS (
  INSERT INTO usage_events (id, created_at, request_id, endpoint, model_id, provider, api_key_id, user_id,
    status, error_code, stream, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens,
    input_cost, output_cost, total_cost, latency_ms, ttft_ms, saved_cost, kind)
  SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::text[], $9::text[], $10::text[], $11::boolean[], $12::int[], $13::int[], $14::int[], $15::int[],
    $16::numeric[], $17::numeric[], $18::numeric[], $19::int[], $20::int[], $21::numeric[], $22::text[])
  ON CONFLICT (id) DO NOTHING
  RETURNING created_at, user_id, api_key_id, model_id, provider, endpoint, status, kind, input_tokens, output_tokens,
    cached_input_tokens, reasoning_tokens, total_cost, latency_ms, saved_cost
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
  private stats: UsageWriterStats = { queued: 0, written: 0, failedFlushes: 0, spooled: 0 };
  private readonly flushIntervalMs: number;
  private readonly maxBatch: number;
  private readonly maxBuffered: number;

  constructor(private readonly options: UsageWriterOptions) {
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.maxBatch = options.maxBatch ?? 2000;
    this.maxBuffered = options.maxBuffered ?? 200_000;
  }

  /** Starts the periodic flush and replays events spooled by an earlier run. */
  start(): void {
    this.replaySpool();
    this.timer ??= setInterval(() => void this.scheduledFlush().catch(() => {}), this.flushIntervalMs);
    this.timer.unref();
  }

  /** Queues one event; returns at once. */
  record(event: UsageEventInput): string {
    const queued: QueuedEvent = { ...event, id: event.id ?? timeOrderedId(event.createdAt) };
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

  /** Stops the timer and writes what is left; whatever cannot be written goes to the spool file. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flushing?.catch(() => {});
    this.retryAt = 0;
    try {
      await this.flush();
    } catch (err) {
      this.options.log.error({ err, events: this.queue.length }, "final usage flush failed; spooling the events to disk");
      this.spill(this.queue.splice(0));
    }
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
        // Exponential backoff, capped at 30 s; the events stay at the head of the queue.
        const delay = Math.min(30_000, this.flushIntervalMs * 2 ** Math.min(this.failures - 1, 5));
        this.retryAt = Date.now() + delay;
        this.options.log.error({ err, events: this.queue.length, retryInMs: delay }, "usage flush failed; will retry");
        throw err;
      } finally {
        this.inFlight = [];
      }
      this.failures = 0;
      this.retryAt = 0;
      this.stats.written += batch.length;
      try {
        this.options.onWritten?.(batch);
      } catch (err) {
        this.options.log.warn({ err }, "a usage-written listener failed");
      }
    }
  }

  private spill(events: QueuedEvent[]): void {
    if (events.length === 0) return;
    const file = this.options.spoolFile;
    if (!file) {
      // No spool file: keep them in memory rather than lose them.
      this.queue.unshift(...events);
      return;
    }
    mkdirSync(path.dirname(file), { recursive: true });
    appendFileSync(file, events.map((e) => JSON.stringify(serialise(e))).join("\n") + "\n");
    this.stats.spooled += events.length;
    this.options.log.warn({ events: events.length, file }, "usage events spooled to disk");
  }

  private replaySpool(): void {
    const file = this.options.spoolFile;
    if (!file || !existsSync(file)) return;
    // Moved aside first so that new spills during the replay go to a fresh file; replaying twice
    // is harmless because inserts are idempotent by id.
    const replaying = `${file}.replaying`;
    renameSync(file, replaying);
    const lines = readFileSync(replaying, "utf8").split("\n").filter(Boolean);
    const events = lines.map((l) => deserialise(JSON.parse(l) as SerialisedEvent));
    this.queue.unshift(...events);
    this.options.log.info({ events: events.length }, "replaying spooled usage events");
    void this.flush().then(
      () => rmSync(replaying, { force: true }),
      () => {
        // Still failing: the events are queued again and will be spooled on stop; drop the old copy.
        rmSync(replaying, { force: true });
      },
    );
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

type SerialisedEvent = Omit<QueuedEvent, "createdAt" | "inputCost" | "outputCost" | "totalCost" | "savedCost" | "kind"> & {
  kind?: UsageKind;
  createdAt: string;
  inputCost: string;
  outputCost: string;
  totalCost: string;
  savedCost?: string;
};

function serialise({ savedCost, ...e }: QueuedEvent): SerialisedEvent {
  return {
    ...e,
    createdAt: e.createdAt.toISOString(),
    inputCost: formatUsd(e.inputCost),
    outputCost: formatUsd(e.outputCost),
    totalCost: formatUsd(e.totalCost),
    ...(savedCost ? { savedCost: formatUsd(savedCost) } : {}),
  };
}

function deserialise({ savedCost, ...e }: SerialisedEvent): QueuedEvent {
  return {
    ...e,
    // Spooled by a version that did not record the kind: the guess that version's roll-ups made.
    kind: e.kind ?? endpointKind(e.endpoint),
    createdAt: new Date(e.createdAt),
    inputCost: parseUsd(e.inputCost),
    outputCost: parseUsd(e.outputCost),
    totalCost: parseUsd(e.totalCost),
    ...(savedCost ? { savedCost: parseUsd(savedCost) } : {}),
  };
}

/** The batch as one array per column, in INSERT_SQL's order. */
function columns(batch: QueuedEvent[]): unknown[] {
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
  ];
}
