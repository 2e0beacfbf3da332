import "server-only";
// Recording one call's usage: the cost at the price that held at that moment, the event handed
// to the process's batched writer (flushed every second and on shutdown), and the call counted in
// the Prometheus metrics. Every call, of every endpoint, passes through `recordCall`.
import path from "node:path";
import { getDatabase, onDatabaseRecovered } from "../../db/index.ts";
import { loadEnv } from "../../kernel/env.ts";
import { onShutdown } from "../../kernel/lifecycle.ts";
import { getLogger } from "../../kernel/logger.ts";
import { ZERO_USAGE, type TokenUsage } from "../../providers/types.ts";
import type { Identity } from "../../access/auth.ts";
import { observeCall, watchUsageWriter } from "../../kernel/metrics.ts";
import { costOf, normalServiceTier, usdNumber, type Cost, type Pico, type Price } from "../catalogue/index.ts";
import type { UsageKind } from "./usage-rollups.ts";
import { NO_ATTRIBUTION, type Attribution } from "./attribution.ts";
import { emitCallSpans } from "./call-spans.ts";
import { tracing } from "../../kernel/telemetry.ts";
import { deleteExpiredBodies, type LoggedBody } from "./request-bodies.ts";
import { UsageWriter, type UsageEventInput, type UsageStatus } from "./usage-writer.ts";

const g = globalThis as unknown as {
  __modelServiceUsageWriter?: UsageWriter;
  __modelServiceUsageListeners?: Set<(batch: readonly UsageEventInput[]) => void>;
};
// On globalThis, like the writer: Next's bundles and the node:http host load separate copies of this module.
const writtenListeners = (g.__modelServiceUsageListeners ??= new Set());

/** Calls `listener` with each batch of events once it is in the database (budget alerts); returns an unsubscribe. */
export function onUsageWritten(listener: (batch: readonly UsageEventInput[]) => void): () => void {
  writtenListeners.add(listener);
  return () => writtenListeners.delete(listener);
}

/**
 * The process's usage writer, started on first use; its final flush is a shutdown hook. The host
 * calls it at start-up (so the spool of an earlier run is replayed then, and the hook is in place
 * before any request can record an event).
 */
export function usageWriter(): UsageWriter {
  if (g.__modelServiceUsageWriter) return g.__modelServiceUsageWriter;
  const writer = new UsageWriter({
    rawQuery: async () => {
      const db = await getDatabase();
      return (sql, params) => db.rawQuery(sql, params);
    },
    log: getLogger().child({ component: "usage-writer" }),
    spoolFile: path.join(loadEnv().dataDir, "usage-spool.jsonl"),
    onWritten: (batch) => {
      for (const listener of writtenListeners) listener(batch);
    },
  });
  writer.start();
  onShutdown("usage-writer", () => writer.stop(), { first: true });
  // Back from an outage: write what queued up now rather than after the remaining backoff.
  onDatabaseRecovered(() => void writer.flush().catch(() => {}));
  watchUsageWriter(() => writer.getStats());
  g.__modelServiceUsageWriter = writer;
  return writer;
}

export { ZERO_USAGE };

export type CallRecord = {
  identity: Identity;
  endpoint: string;
  /** Text generation or embeddings: the service making the call says so (the endpoint's name does not). */
  kind: UsageKind;
  modelId: string;
  provider: string;
  price: Price;
  usage: TokenUsage | undefined;
  status: UsageStatus;
  errorCode?: string | null;
  stream: boolean;
  latencyMs: number;
  ttftMs?: number | null;
  /**
   * Time spent waiting on the provider (calls and retry backoff; for streams also the caller
   * reading): latencyMs minus this is the gateway's own overhead, a Prometheus histogram.
   */
  upstreamMs?: number | null;
  requestId?: string | null;
  at?: Date;
  /** What a cache saved this call (status `cached`, or embeddings partly served from the cache). */
  savedCost?: Pico;
  /** The deployment that answered (or last failed) a routed call, and how many provider calls it made. */
  deployment?: string | null;
  attempts?: number | null;
  /** Who and what the call was for, as its caller said (attribution.ts); none by default. */
  attribution?: Attribution;
  /** The request and answer, when they are to be stored (request-bodies.ts bodyLogging). */
  body?: LoggedBody;
  /** The provider calls it made, in order (the call's trace spans: call-spans.ts). */
  attemptLog?: readonly AttemptLog[];
  /** Why the answer ended, and the model the provider said answered (the trace span's attributes). */
  finishReason?: string;
  responseModel?: string;
};

/** One provider call of a call: where, when, how long, and for a failed one its kind and what followed. */
export type AttemptLog = {
  deployment: string;
  provider: string;
  /** The model's name at the provider. */
  providerModel: string;
  /** Epoch milliseconds. */
  startedAt: number;
  /** Absent for the call's last attempt, which lasts until the call ends. */
  durationMs?: number;
  /** The failure's kind (ProviderError kind or our error code). */
  error?: string;
  /** After a failure: another deployment, a retry, or the end of this model's turn. */
  next?: "move" | "retry" | "stop";
};

/**
 * One call metered into its usage event: the cost at the call's price, the caller's key and user.
 * recordCall queues it; tests build their events with it (tests/support/usage-events.ts), so a new
 * column is filled here once.
 */
export function usageEvent(call: CallRecord): UsageEventInput & Cost {
  const usage = call.usage ?? ZERO_USAGE;
  const cost = costOf(call.price, usage);
  const attribution = call.attribution ?? NO_ATTRIBUTION;
  const who = call.identity.kind === "anonymous" ? { apiKeyId: null, userId: null } : call.identity;
  return {
    createdAt: call.at ?? new Date(),
    requestId: call.requestId ?? null,
    endpoint: call.endpoint,
    kind: call.kind,
    modelId: call.modelId,
    provider: call.provider,
    apiKeyId: "apiKeyId" in who ? (who.apiKeyId ?? null) : null,
    userId: who.userId ?? null,
    status: call.status,
    errorCode: call.errorCode ?? null,
    stream: call.stream,
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    cachedInputTokens: usage.cachedInputTokens,
    reasoningTokens: usage.reasoningTokens,
    cacheWriteTokens: usage.cacheWriteTokens ?? 0,
    cacheWrite1hTokens: usage.cacheWrite1hTokens ?? 0,
    audioInputTokens: usage.audioInputTokens ?? 0,
    imageInputTokens: usage.imageInputTokens ?? 0,
    serviceTier: normalServiceTier(usage.serviceTier) ?? null,
    priceTier: cost.tier,
    inputCost: cost.inputCost,
    outputCost: cost.outputCost,
    totalCost: cost.totalCost,
    costParts: cost.breakdown,
    ...(call.savedCost ? { savedCost: call.savedCost } : {}),
    latencyMs: Math.round(call.latencyMs),
    ttftMs: call.ttftMs == null ? null : Math.round(call.ttftMs),
    deployment: call.deployment ?? null,
    attempts: call.attempts ?? null,
    tags: attribution.tags,
    endUser: attribution.endUser,
    sessionId: attribution.session,
    metadata: attribution.metadata,
    ...(call.body ? { body: call.body } : {}),
    teamId: ("teamId" in who ? who.teamId : null) ?? null,
  };
}

/** Queues exactly one usage event for a call and returns its cost. Never waits for the database. */
export function recordCall(call: CallRecord): Cost & { eventId: string } {
  const event = usageEvent(call);
  const cost: Cost = { inputCost: event.inputCost, outputCost: event.outputCost, totalCost: event.totalCost };
  const usage = call.usage ?? ZERO_USAGE;
  const eventId = usageWriter().record(event);
  if (tracing()) emitCallSpans(call, event);
  try {
    observeCall({
      model: call.modelId,
      provider: call.provider,
      status: call.status,
      ...usage,
      costUsd: usdNumber(cost.totalCost),
      latencyMs: call.latencyMs,
      ttftMs: call.ttftMs,
      upstreamMs: call.upstreamMs,
    });
  } catch (err) {
    // Metrics must never fail a call whose usage is already recorded.
    getLogger().warn({ err }, "could not update the Prometheus metrics for a call");
  }
  return { ...cost, eventId };
}

const RETENTION_EVERY_MS = 60 * 60 * 1000;

/**
 * The background job that deletes stored bodies past REQUEST_LOG_RETENTION_DAYS (request-bodies.ts):
 * once soon after start, then every hour; stopped on shutdown. Each run is one DELETE by the
 * created_at index.
 */
export function startBodyRetention(): { runNow(): Promise<number>; stop(): void } {
  const log = getLogger().child({ component: "body-retention" });
  const runNow = async () => {
    const db = await getDatabase();
    const n = await deleteExpiredBodies((sql, params) => db.rawQuery(sql, params));
    if (n) log.info({ deleted: n, retentionDays: loadEnv().REQUEST_LOG_RETENTION_DAYS }, "deleted request bodies past their retention");
    return n;
  };
  const run = () => void runNow().catch((err: unknown) => log.warn({ err }, "request-body retention failed; will try again"));
  const first = setTimeout(run, 10_000);
  const timer = setInterval(run, RETENTION_EVERY_MS);
  first.unref();
  timer.unref();
  const stop = () => {
    clearTimeout(first);
    clearInterval(timer);
  };
  onShutdown("body-retention", stop);
  return { runNow, stop };
}
