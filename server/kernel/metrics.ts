import "server-only";
// Prometheus metrics (prom-client). Calls are counted where their usage is recorded (usage.ts
// `recordCall`, the one place every call passes), rate-limit refusals where the limiter refuses,
// and the usage writer's queue is read when Prometheus scrapes. The registry lives on globalThis:
// Next's route bundles and the node:http host load this module separately but must count into
// one registry.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

const PREFIX = "model_service_";

/** One deployment's numbers as routing keeps them (features/routing/health.ts): running totals and current values. */
export type DeploymentSample = {
  model: string;
  deployment: string;
  provider: string;
  requests: number;
  failures: number;
  inFlight: number;
  /** Moving average of time to first token or to the answer; undefined until measured. */
  latencyMs: number | undefined;
  /** Seconds of cooldown left (0: not cooling down). */
  cooldownSeconds: number;
};

/** What the usage writer reports of its queue (features/usage/usage-writer.ts). */
export type UsageWriterStats = { queued: number; written: number; failedFlushes: number; spooled: number };

export type CallObservation = {
  model: string;
  provider: string;
  status: string;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  reasoningTokens: number;
  /** USD (a double is fine for a Prometheus counter; the exact amount is in the usage tables). */
  costUsd: number;
  latencyMs: number;
  ttftMs?: number | null;
  /** Time spent waiting on the provider; latency minus this is the gateway's own overhead. */
  upstreamMs?: number | null;
};

type Metrics = {
  registry: Registry;
  requests: Counter<"model" | "provider" | "status">;
  tokens: Counter<"model" | "provider" | "type">;
  cost: Counter<"model" | "provider" | "status">;
  duration: Histogram<"model" | "provider" | "status">;
  ttft: Histogram<"model" | "provider">;
  overhead: Histogram<"provider">;
  rateLimited: Counter<"limit">;
  /** Where the usage writer's stats come from (set by usage.ts once the writer exists). */
  writerStats?: () => UsageWriterStats;
  /** Where the deployments' numbers come from (set by features/routing). */
  deployments?: () => DeploymentSample[];
  /** The deployments' running totals at the last scrape (the counters add what they grew since). */
  deploymentTotals: Map<string, { requests: number; failures: number }>;
};

const g = globalThis as unknown as { __modelServiceMetrics?: Metrics };

function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const m: Metrics = {
    registry,
    requests: new Counter({
      name: `${PREFIX}requests_total`,
      help: "Calls to models through the gateway, by model, provider and outcome (success, error, cached).",
      labelNames: ["model", "provider", "status"],
      registers: [registry],
    }),
    tokens: new Counter({
      name: `${PREFIX}tokens_total`,
      help: "Tokens by model and provider; type is input, output, cached_input (part of input) or reasoning (part of output).",
      labelNames: ["model", "provider", "type"],
      registers: [registry],
    }),
    cost: new Counter({
      name: `${PREFIX}cost_usd_total`,
      help: "Cost of calls in US dollars at the price that held at each call (exact amounts are in the usage tables).",
      labelNames: ["model", "provider", "status"],
      registers: [registry],
    }),
    duration: new Histogram({
      name: `${PREFIX}request_duration_seconds`,
      help: "Latency of calls from the gateway's start of work to the last byte from the provider, retries and fallbacks included.",
      labelNames: ["model", "provider", "status"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300],
      registers: [registry],
    }),
    ttft: new Histogram({
      name: `${PREFIX}time_to_first_token_seconds`,
      help: "Time to the first streamed text token.",
      labelNames: ["model", "provider"],
      buckets: [0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 2, 5, 10, 30],
      registers: [registry],
    }),
    overhead: new Histogram({
      name: `${PREFIX}gateway_overhead_seconds`,
      help: "The gateway's own time per call: latency minus the time spent waiting on the provider (calls, retry backoff and, for streams, the caller reading).",
      labelNames: ["provider"],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: `${PREFIX}rate_limit_rejections_total`,
      help: "Requests refused with 429, by the limit that refused them (an endpoint's name or tier:<tier>).",
      labelNames: ["limit"],
      registers: [registry],
    }),
    deploymentTotals: new Map(),
  };

  const seen = { failedFlushes: 0, written: 0, spooled: 0 };
  const sinceLastScrape = (key: keyof typeof seen, now: number) => {
    const delta = Math.max(0, now - seen[key]);
    seen[key] = now;
    return delta;
  };
  // The writer keeps running totals; counters take the growth since the last scrape.
  new Gauge({
    name: `${PREFIX}usage_writer_queue_depth`,
    help: "Usage events waiting to be written to the database (queued or being written).",
    registers: [registry],
    collect() {
      this.set(m.writerStats?.().queued ?? 0);
    },
  });
  new Counter({
    name: `${PREFIX}usage_writer_failed_flushes_total`,
    help: "Batches of usage events the database refused (they are retried, then spooled to disk).",
    registers: [registry],
    collect() {
      const stats = m.writerStats?.();
      if (stats) this.inc(sinceLastScrape("failedFlushes", stats.failedFlushes));
    },
  });
  new Counter({
    name: `${PREFIX}usage_events_written_total`,
    help: "Usage events written to the database by this process.",
    registers: [registry],
    collect() {
      const stats = m.writerStats?.();
      if (stats) this.inc(sinceLastScrape("written", stats.written));
    },
  });
  new Counter({
    name: `${PREFIX}usage_events_spooled_total`,
    help: "Usage events written to the spool file because the database could not take them.",
    registers: [registry],
    collect() {
      const stats = m.writerStats?.();
      if (stats) this.inc(sinceLastScrape("spooled", stats.spooled));
    },
  });
  // Per deployment (routing): the totals grow by what they grew since the last scrape, the rest are read as they are.
  const deploymentLabels = ["model", "deployment", "provider"] as const;
  const sampleLabels = (s: DeploymentSample) => ({ model: s.model, deployment: s.deployment, provider: s.provider });
  const grown = (s: DeploymentSample, key: "requests" | "failures") => {
    const id = `${s.model}\0${s.deployment}`;
    const seenNow = m.deploymentTotals.get(id) ?? { requests: 0, failures: 0 };
    const delta = Math.max(0, s[key] - seenNow[key]);
    seenNow[key] = s[key];
    m.deploymentTotals.set(id, seenNow);
    return delta;
  };
  new Counter({
    name: `${PREFIX}deployment_requests_total`,
    help: "Attempts sent to each deployment of a model by this process.",
    labelNames: deploymentLabels,
    registers: [registry],
    collect() {
      for (const s of m.deployments?.() ?? []) this.inc(sampleLabels(s), grown(s, "requests"));
    },
  });
  new Counter({
    name: `${PREFIX}deployment_failures_total`,
    help: "Attempts on each deployment that failed in a way that counts against it (connection, timeout, 5xx, 429, refused key).",
    labelNames: deploymentLabels,
    registers: [registry],
    collect() {
      for (const s of m.deployments?.() ?? []) this.inc(sampleLabels(s), grown(s, "failures"));
    },
  });
  new Gauge({
    name: `${PREFIX}deployment_in_flight`,
    help: "Attempts in flight on each deployment in this process.",
    labelNames: deploymentLabels,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of m.deployments?.() ?? []) this.set(sampleLabels(s), s.inFlight);
    },
  });
  new Gauge({
    name: `${PREFIX}deployment_latency_seconds`,
    help: "Each deployment's recent latency: a moving average of time to first token (streams) or to the answer.",
    labelNames: deploymentLabels,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of m.deployments?.() ?? []) if (s.latencyMs !== undefined) this.set(sampleLabels(s), s.latencyMs / 1000);
    },
  });
  new Gauge({
    name: `${PREFIX}deployment_cooldown_seconds`,
    help: "Seconds of cooldown left for each deployment (0: taking traffic).",
    labelNames: deploymentLabels,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of m.deployments?.() ?? []) this.set(sampleLabels(s), s.cooldownSeconds);
    },
  });
  return m;
}

function metrics(): Metrics {
  return (g.__modelServiceMetrics ??= createMetrics());
}

/** Counts one call: requests, tokens, cost, latency, time to first token and overhead. */
export function observeCall(c: CallObservation): void {
  const m = metrics();
  const labels = { model: c.model, provider: c.provider, status: c.status };
  m.requests.inc(labels);
  // Also for free calls, so that every model's cost series exists.
  m.cost.inc(labels, Math.max(0, c.costUsd));
  const t = { model: c.model, provider: c.provider };
  if (c.inputTokens) m.tokens.inc({ ...t, type: "input" }, c.inputTokens);
  if (c.outputTokens) m.tokens.inc({ ...t, type: "output" }, c.outputTokens);
  if (c.cachedInputTokens) m.tokens.inc({ ...t, type: "cached_input" }, c.cachedInputTokens);
  if (c.reasoningTokens) m.tokens.inc({ ...t, type: "reasoning" }, c.reasoningTokens);
  m.duration.observe(labels, c.latencyMs / 1000);
  if (c.ttftMs != null) m.ttft.observe(t, c.ttftMs / 1000);
  if (c.upstreamMs != null) m.overhead.observe({ provider: c.provider }, Math.max(0, c.latencyMs - c.upstreamMs) / 1000);
}

/** Counts a request refused by a rate limit; `limit` is the limit's name (`generate`, `tier:basic`, …). */
export function recordRateLimitRejection(limit: string): void {
  metrics().rateLimited.inc({ limit });
}

/** Lets /metrics report the usage writer's queue and failures. */
export function watchUsageWriter(stats: () => UsageWriterStats): void {
  metrics().writerStats = stats;
}

/** Lets /metrics report each deployment's requests, failures, in-flight count, latency and cooldown. */
export function watchDeployments(samples: () => DeploymentSample[]): void {
  const m = metrics();
  m.deployments = samples;
  // A new source (the routing state made afresh) counts its totals from zero.
  m.deploymentTotals.clear();
}

/** The Prometheus text exposition of every metric. */
export async function metricsText(): Promise<{ body: string; contentType: string }> {
  const m = metrics();
  return { body: await m.registry.metrics(), contentType: m.registry.contentType };
}
