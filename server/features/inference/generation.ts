import "server-only";
// Text generation across providers: model resolution, fallbacks, retries with backoff and jitter,
// a deadline per request, upstream aborts when the caller leaves, and exactly one usage event per
// call (success or failure, plain or streamed). REST and tRPC both call `generate` / `generateStream`.
// Before each paid attempt (each model of the chain, each retry) its largest possible cost is
// reserved against the caller's budgets (budgets.ts), and settled with what it cost after it.
// Each attempt goes to a deployment of the model chosen by features/routing: a deployment's failure
// is reported to its health, and the next attempt goes to another healthy deployment of the model
// (at once, without the backoff, and not counted as a retry) before the same one is tried again;
// when every deployment is cooling down the call waits for the first to come back, up to its deadline.
import { randomUUID } from "node:crypto";
import { startDeadline, type Deadline } from "./deadline.ts";
import { loadEnv } from "../../kernel/env.ts";
import { AppError } from "../../kernel/errors.ts";
import { trackInterruptible } from "../../kernel/lifecycle.ts";
import {
  generationParameters,
  ProviderError,
  type ChatMessage,
  type FinishReason,
  type GenerateRequest,
  type GenerationParameters,
  type ReasoningBlock,
  type ReasoningDelta,
  type TokenUsage,
  type ToolCall,
  type WireChatRequest,
} from "../../providers/types.ts";
import { getProvider } from "../../providers/registry.ts";
import type { Identity } from "../../access/auth.ts";
import { modelAllowed, requireModelAllowed } from "../../access/model-access.ts";
import { admitKeyCall, type Admission } from "./key-admission.ts";
import { reserveBudgets, type Reservation } from "../budgets/index.ts";
import { pricingFor, resolveModel, samplingFixed } from "../catalogue/index.ts";
import { dearestInputRate, dearestOutputRate, type Cost, type Pico, type Price } from "../catalogue/index.ts";
import {
  deploymentFailed,
  deploymentGroup,
  routeFor,
  type Attempt,
  type Deployment,
  type Route,
  type RouteChoice,
} from "../routing/index.ts";
import { lookupResponse, replayAsStream } from "./response-cache.ts";
import type { CacheRequest, CacheStatus } from "../../web/cache-directives.ts";
import { countPromptTokens, countTextTokens, promptTokenBound } from "./tokens.ts";
import { bodyLogging, recordCall, type AttemptLog, type Attribution, type LoggedBody } from "../usage/index.ts";

/** A generation: the model, the messages and the generation parameters (providers/types.ts), and how to run it. */
export type GenerateInput = GenerationParameters & {
  model: string;
  messages: ChatMessage[];
  /** Models to try, in order, when the requested one fails or is unavailable (before the model's own fallbacks). */
  fallbacks?: string[];
  /** Overall deadline for the call, retries included. */
  timeoutMs?: number;
  /** The response cache: whether to use it, and the TTL of a new entry (response-cache.ts). */
  cache?: CacheRequest;
  /**
   * The caller's OpenAI chat completions body, passed through to the deployments whose provider
   * speaks that protocol (Provider.passthrough); `messages` and the parameters above are then only
   * what the service itself reads of it (token estimates, budgets, the cache's temperature rule).
   */
  wire?: { body: Readonly<Record<string, unknown>> };
};

export type CallContext = {
  identity: Identity;
  /** The endpoint recorded with the usage event, e.g. "/v1/llm/generate". */
  endpoint: string;
  requestId: string;
  /** Aborts when the caller goes away. */
  signal?: AbortSignal;
  /** Told the response cache's status before the first event (for the response header). */
  onCacheStatus?: (status: CacheStatus) => void;
  /** Told the deployment that answers before the first event (the x-model-service-deployment header). */
  onDeployment?: (id: string) => void;
  /** Who and what the call is for, as the caller said (features/usage attributionOf); stored on its usage event, never sent to a provider. */
  attribution?: Attribution;
  /** Set by generate/generateStream: this call's request and answer are stored (features/usage bodyLogging). */
  logBody?: boolean;
};

/** The body fields of a usage event: the request as read and `response`, when the call's bodies are logged. */
function bodyOf(input: GenerateInput, ctx: CallContext, response: LoggedBody["response"]): { body?: LoggedBody } {
  if (!ctx.logBody) return {};
  const { wire: _wire, cache: _cache, timeoutMs: _timeout, ...request } = input;
  return { body: { request, response } };
}

export type GenerateOutcome = {
  id: string;
  model: string;
  provider: string;
  text: string;
  /** The tool calls of the reply, in order; absent when there are none. */
  toolCalls?: ToolCall[];
  /** The reasoning blocks of the reply (Anthropic's extended thinking, signatures kept); absent when there are none. */
  reasoning?: ReasoningBlock[];
  finishReason: FinishReason;
  usage: TokenUsage;
  cost: Cost;
  latencyMs: number;
  ttftMs?: number;
  /** The deployment that answered (features/routing); absent for an answer from the response cache. */
  deployment?: string;
  /** Provider calls the answer took, across deployments and fallback models. */
  attempts?: number;
  /** Set when the response cache was asked for. */
  cache?: CacheStatus;
  /** A cache hit: what the answer would have cost. */
  savedCost?: Pico;
  /** A passthrough answer: the upstream's JSON text (plain), or its include_usage chunk (streamed). */
  wire?: { body?: string; usageChunk?: string };
};

/**
 * What a streamed generation yields. Deltas name the model that is answering (after fallbacks,
 * which happen only before the first delta). A tool call arrives in pieces: the first piece of
 * call `index` carries its id and name, the rest more of its JSON arguments.
 */
export type GenerationEvent =
  | { type: "delta"; text: string; model: string }
  | { type: "tool-call"; index: number; id?: string; name?: string; argumentsDelta: string; model: string }
  /** A piece of reasoning block `index` (providers/types.ts ReasoningDelta). */
  | (Omit<ReasoningDelta, "type"> & { type: "reasoning"; model: string })
  /** A passthrough stream's chunk: the upstream's JSON text, to be sent on as it is. */
  | { type: "wire"; data: string; model: string }
  | { type: "done"; outcome: GenerateOutcome };

type Model = ReturnType<typeof resolveModel>;

export type RetryPolicy = { maxRetries: number; baseDelayMs: number; maxDelayMs: number; maxRetryAfterMs: number };

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 2, baseDelayMs: 200, maxDelayMs: 4_000, maxRetryAfterMs: 20_000 };

let retryPolicy: RetryPolicy = DEFAULT_RETRY;
/** Tests shorten the delays; behaviour is otherwise the same. */
export function setRetryPolicyForTests(policy: Partial<RetryPolicy>): void {
  retryPolicy = { ...DEFAULT_RETRY, ...policy };
}

/**
 * The chain of models to try: the requested one, the request's fallbacks, then the model's own;
 * for a key with an allow-list, 403 for a requested model outside it, and no fallback outside it.
 */
function candidateModels(input: GenerateInput, identity: Identity): Model[] {
  const first = resolveModel(input.model);
  requireModelAllowed(identity, first.id, input.model);
  if (first.type !== "chat") {
    throw new AppError("invalid_request", `Model ${first.id} is an ${first.type} model; use a chat model for text generation`);
  }
  refuseFixedSampling(first, input);
  const ids = [...(input.fallbacks ?? []), ...first.fallbacks];
  const chain: Model[] = [first];
  for (const id of ids) {
    const m = resolveModel(id);
    if (m.type === "chat" && !chain.some((c) => c.id === m.id) && modelAllowed(identity, m.id)) chain.push(m);
  }
  return chain;
}

/**
 * OpenAI's reasoning models (o-series, GPT-5: `sampling: false` in the catalogue) refuse a
 * temperature or top_p other than the default 1: asked of the requested model, a 400 naming the
 * parameter, before the response cache or a provider is asked. A fallback model of that kind gets
 * the call without them (toRequest), since the caller chose them for the model it asked for.
 */
function refuseFixedSampling(model: Model, input: GenerateInput): void {
  if (!samplingFixed(model.id)) return;
  for (const [field, value] of [
    ["temperature", input.temperature],
    ["top_p", input.topP],
  ] as const) {
    if (value !== undefined && value !== 1) {
      throw new AppError("invalid_request", `${model.id} takes only the default ${field} (1); leave ${field} out or set it to 1`, {
        issues: [{ field, message: `${model.id} supports only the default value 1` }],
      });
    }
  }
}

/** How long past the call's deadline a reservation is kept for its settle to arrive. */
const LEASE_GRACE_MS = 60_000;

/**
 * The most one attempt on `model` can cost at its price now: the prompt, estimated high (tokens.ts
 * promptTokenBound, counted once per call), and the longest reply it may give (max_tokens, else
 * the model's largest output), neither more than the model's context window, each token at the
 * dearest rate of the price (cache writes and tiers included). 0 for a free model.
 */
export function largestAttemptCost(
  model: Model,
  input: GenerateInput,
  promptBound: () => number = () => promptTokenBound(input),
  price: Price = pricingFor(model.id),
): Pico {
  const inputRate = dearestInputRate(price);
  const outputRate = dearestOutputRate(price);
  if (inputRate === 0n && outputRate === 0n) return 0n;
  const window = model.contextWindow;
  const inputTokens = Math.min(window, promptBound());
  // A passthrough body's n choices (OpenAI) each may give the longest reply.
  const n = typeof input.wire?.body.n === "number" && input.wire.body.n > 1 ? input.wire.body.n : 1;
  const outputTokens = Math.min(window, input.maxTokens ?? model.maxOutputTokens ?? window) * n;
  // Every input token may turn out to be a cache write (Anthropic, Bedrock; a 1-hour write the
  // dearest), and a large prompt or a priority tier may price the whole call higher: the hold
  // counts each token at the dearest rate it could be billed at.
  return BigInt(inputTokens) * inputRate + BigInt(outputTokens) * outputRate;
}

/** Per call: reserves each paid attempt's largest cost against the caller's budgets (402 when it does not fit). */
function attemptReserver(input: GenerateInput, ctx: CallContext, deadline: number) {
  let bound: number | undefined;
  const promptBound = () => (bound ??= promptTokenBound(input));
  return (model: Model, deployment: Deployment): Promise<Reservation> =>
    reserveBudgets(ctx.identity, () => largestAttemptCost(model, input, promptBound, priceAt(model, deployment)), {
      leaseMs: deadline - Date.now() + LEASE_GRACE_MS,
    });
}

/** What a call answered by `deployment` costs: its own price when it has one, else the model's now. */
function priceAt(model: Model, deployment: Deployment): Price {
  return deployment.price ?? pricingFor(model.id);
}

function toRequest(model: Model, deployment: Deployment, input: GenerateInput): GenerateRequest {
  return {
    model: deployment.providerModel,
    ...(deployment.exactModel ? { exactModel: true } : {}),
    messages: input.messages,
    defaultMaxTokens: model.maxOutputTokens ?? undefined,
    ...generationParameters(input),
    // A model that takes only the default sampling (refuseFixedSampling): as a fallback, without them.
    ...(samplingFixed(model.id) ? { temperature: undefined, topP: undefined } : {}),
  };
}

/**
 * Whether a call for `model` (and its fallbacks) can pass the caller's OpenAI body through: every
 * deployment of every model of the chain is on a provider with a passthrough, and it is not turned
 * off (OPENAI_PASSTHROUGH=off). Otherwise the body is parsed whole and goes through the SDKs.
 */
export function passthroughServes(model: string, identity: Identity, fallbacks: readonly string[] = []): boolean {
  if (!loadEnv().OPENAI_PASSTHROUGH) return false;
  let chain: Model[];
  try {
    chain = candidateModels({ model, messages: [], fallbacks: [...fallbacks] }, identity);
  } catch {
    return false; // an unknown or non-chat model: the whole parse and the usual error
  }
  for (const m of chain) {
    for (const d of deploymentGroup(m).deployments) if (!getProvider(d.provider)?.passthrough) return false;
  }
  return true;
}

function toWireRequest(model: Model, deployment: Deployment, input: GenerateInput, stream: boolean): WireChatRequest {
  return {
    model: deployment.providerModel,
    ...(deployment.exactModel ? { exactModel: true } : {}),
    body: input.wire!.body,
    stream,
    ...(samplingFixed(model.id) ? { dropSampling: true } : {}),
    answerModel: model.id,
  };
}

/** A provider failure as one of our errors: 400, 502, 503 or 504, never with a key in it. */
export function providerErrorToAppError(err: unknown, model: Model): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof ProviderError) {
    const where = `${model.provider} (${model.id})`;
    switch (err.kind) {
      case "invalid_request":
        return new AppError("invalid_request", `${where} rejected the request: ${err.message}`);
      case "unavailable":
        return new AppError("unavailable", `${where} is unavailable: ${err.message}`);
      case "rate_limited": {
        // An exhausted quota or spend cap (OpenAI's insufficient_quota, Anthropic's spend limits): no retry helps.
        if (!err.retryable)
          return new AppError("unavailable", `${where} refused the call: ${err.message}; an operator must raise the limit`);
        const headers = err.retryAfterMs ? { "Retry-After": String(Math.ceil(err.retryAfterMs / 1000)) } : undefined;
        return new AppError("unavailable", `${where} is rate limiting the service; try again later`, undefined, headers);
      }
      case "timeout":
        return new AppError("timeout", `${where} did not answer in time`);
      case "auth":
        return new AppError("provider_error", `${where} refused the service's credentials; an operator must check its API key`);
      default:
        return new AppError("provider_error", `${where} failed: ${err.message}`);
    }
  }
  if (isAbort(err)) return new AppError("timeout", `${model.provider} (${model.id}) did not answer in time`);
  return new AppError("provider_error", `${model.provider} (${model.id}) failed unexpectedly`);
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError" || /aborted/i.test(err.message));
}

function retryable(err: unknown): boolean {
  return err instanceof ProviderError && err.retryable;
}

/** Whether to move on to the next model after this error (the request itself was fine). */
function worthFallingBack(err: unknown): boolean {
  if (err instanceof AppError) return err.code === "unavailable" || err.code === "provider_error" || err.code === "timeout";
  if (err instanceof ProviderError) return err.kind !== "invalid_request";
  return true;
}

/** Exponential backoff with full jitter; a provider's Retry-After wins when it gives one. */
function backoffMs(attempt: number, err: unknown): number {
  if (err instanceof ProviderError && err.retryAfterMs !== undefined) return Math.min(err.retryAfterMs, retryPolicy.maxRetryAfterMs);
  const cap = Math.min(retryPolicy.maxDelayMs, retryPolicy.baseDelayMs * 2 ** attempt);
  return Math.round(cap / 2 + (Math.random() * cap) / 2);
}

/**
 * Waits before the next attempt when one is worth making: a retryable error, attempts left, and
 * the backoff (or the provider's Retry-After) ends before the deadline. False: give up on this model.
 */
async function waitBeforeRetry(
  attempt: number,
  err: unknown,
  signal: AbortSignal,
  deadline: number,
  waited: UpstreamClock,
): Promise<boolean> {
  if (signal.aborted || !retryable(err) || attempt >= retryPolicy.maxRetries) return false;
  const wait = backoffMs(attempt, err);
  if (Date.now() + wait >= deadline) return false;
  try {
    await waited.on(sleep(wait, signal));
    return true;
  } catch {
    return false;
  }
}

/**
 * After a failed attempt, reported to its deployment's health: "move" at once to another deployment of the model this call has not
 * tried (the failure was the deployment's), "retry" after the backoff (retryable, retries left),
 * or "stop" (give up on this model).
 */
async function nextAttempt(
  route: Route,
  tried: ReadonlySet<string>,
  retries: number,
  err: unknown,
  failed: { attempt: Attempt; startedAt: number; ctx: CallContext; walk: ChainWalk },
  signal: AbortSignal,
  deadline: number,
  waited: UpstreamClock,
): Promise<"move" | "retry" | "stop"> {
  const durationMs = performance.now() - failed.startedAt;
  // The caller leaving says nothing about the deployment; its failures (and timeouts) count against it.
  if (failed.ctx.signal?.aborted) failed.attempt.ended();
  else await failed.attempt.failed(err, durationMs);
  const next = signal.aborted
    ? "stop"
    : deploymentFailed(err) && route.hasAlternative(tried)
      ? "move"
      : (await waitBeforeRetry(retries, err, signal, deadline, waited))
        ? "retry"
        : "stop";
  const logged = failed.walk.log.at(-1);
  if (logged) Object.assign(logged, { durationMs, error: errorType(err), next });
  return next;
}

/** What kind of failure ended an attempt, for its record (no message: nothing of the provider's text). */
function errorType(err: unknown): string {
  if (err instanceof ProviderError) return err.kind;
  if (err instanceof AppError) return err.code;
  return isAbort(err) ? "timeout" : "error";
}

/**
 * The deployment for the next attempt. When every deployment is cooling down or at its caps, waits
 * for the first to come back if that is before the deadline; otherwise (or when none can serve) the error that
 * ends this model's turn (its fallbacks follow).
 */
export async function chooseDeployment(
  route: Route,
  tried: ReadonlySet<string>,
  signal: AbortSignal,
  deadline: number,
  waited: UpstreamClock,
): Promise<Extract<RouteChoice, { kind: "deployment" }> | AppError> {
  for (;;) {
    const choice = await route.choose(tried);
    if (choice.kind === "deployment") return choice;
    if (choice.kind === "none") return choice.error;
    const waitMs = Math.max(1, choice.untilMs - Date.now());
    if (signal.aborted || Date.now() + waitMs >= deadline) {
      return new AppError("unavailable", `Every deployment of ${route.model.id} is ${choice.why}`, undefined, {
        "Retry-After": String(Math.max(1, Math.ceil(waitMs / 1000))),
      });
    }
    try {
      await waited.on(sleep(waitMs, signal));
    } catch {
      return new AppError("unavailable", `Every deployment of ${route.model.id} is ${choice.why}`);
    }
  }
}

/**
 * The next attempt on `route`'s model: a deployment chosen (chooseDeployment) and the attempt's
 * largest cost reserved, counted in `walk` and `tried` and started on the deployment's health; or
 * what ends this model's turn (no deployment can serve, or the reservation was refused: then
 * `walk.refused`, which ends the call).
 */
async function startAttempt(
  route: Route,
  model: Model,
  tried: Set<string>,
  reserve: (model: Model, deployment: Deployment) => Promise<Reservation>,
  walk: ChainWalk,
  signal: AbortSignal,
  deadline: number,
  waited: UpstreamClock,
): Promise<
  | {
      deployment: Deployment;
      provider: Extract<RouteChoice, { kind: "deployment" }>["provider"];
      reservation: Reservation;
      attempt: Attempt;
      attemptStarted: number;
    }
  | { ended: unknown }
> {
  const choice = await chooseDeployment(route, tried, signal, deadline, waited);
  if (choice instanceof AppError) return { ended: choice };
  const { deployment, provider } = choice;
  let reservation: Reservation;
  try {
    reservation = await reserve(model, deployment);
  } catch (err) {
    walk.refused = err;
    return { ended: err };
  }
  walk.attempted = true;
  walk.attempts++;
  walk.log.push({
    deployment: deployment.id,
    provider: deployment.provider,
    providerModel: deployment.providerModel,
    startedAt: Date.now(),
  });
  tried.add(deployment.id);
  return { deployment, provider, reservation, attempt: route.started(deployment), attemptStarted: performance.now() };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => (signal.removeEventListener("abort", onAbort), resolve()), ms);
    const onAbort = () => (clearTimeout(t), reject(signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Time spent waiting on the provider (calls, retry backoff): latency minus this is the gateway's overhead metric. */
export class UpstreamClock {
  ms = 0;
  async on<T>(work: Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await work;
    } finally {
      this.ms += performance.now() - t;
    }
  }
}

function deadlineFor(input: GenerateInput, ctx: CallContext): Deadline {
  return startDeadline(input.timeoutMs ?? loadEnv().PROVIDER_TIMEOUT_MS, ctx.signal);
}

function completeUsage(usage: TokenUsage | undefined, input: GenerateInput, text: string): TokenUsage {
  if (usage) return usage;
  return { inputTokens: countPromptTokens(input.messages), outputTokens: countTextTokens(text), cachedInputTokens: 0, reasoningTokens: 0 };
}

/** The output to count when a provider reported no usage: the text and the tool calls' names and arguments. */
function outputText(text: string, toolCalls: readonly ToolCall[]): string {
  if (!toolCalls.length) return text;
  return [text, ...toolCalls.filter(Boolean).map((c) => `${c.name} ${c.arguments}`)].join(" ");
}

/** One plain (non-streamed) generation. */
export async function generate(input: GenerateInput, ctx: CallContext): Promise<GenerateOutcome> {
  const chain = candidateModels(input, ctx.identity);
  ctx.logBody ??= await bodyLogging(ctx.identity, ctx.attribution);
  const cached = await lookupResponse(input, chain[0]!, ctx, false);
  if (cached.outcome) return cached.outcome;
  const started = performance.now();
  const { signal, deadline, release } = deadlineFor(input, ctx);
  const reserve = attemptReserver(input, ctx, deadline);
  // The tokens the call used, for the key's tokens per minute (key-admission.ts).
  let used = 0;
  let admission: Admission | undefined;
  try {
    admission = await admitKeyCall(ctx.identity, () => countPromptTokens(input.messages), deadline - Date.now());
    const waited = new UpstreamClock();
    let lastError: unknown;
    let lastModel = chain[0]!;
    const walk: ChainWalk = { attempted: false, attempts: 0, log: [] };
    let lastDeployment: Deployment | undefined;
    for (const model of chain) {
      lastModel = model;
      const route = routeFor(model);
      const unavailable = route.unavailable();
      if (unavailable) {
        lastError = unavailable;
        continue;
      }
      const tried = new Set<string>();
      for (let retries = 0; ;) {
        const next = await startAttempt(route, model, tried, reserve, walk, signal, deadline, waited);
        if ("ended" in next) {
          lastError = next.ended;
          break;
        }
        const { deployment, provider, reservation, attempt, attemptStarted } = next;
        const wire = input.wire ? provider.passthrough : undefined;
        try {
          const result = await waited.on(
            wire
              ? wire.chat(toWireRequest(model, deployment, input, false), { signal })
              : provider.generateText(toRequest(model, deployment, input), { signal }),
          );
          used = result.usage.inputTokens + result.usage.outputTokens;
          attempt.succeeded(performance.now() - attemptStarted, result.usage.inputTokens + result.usage.outputTokens);
          ctx.onDeployment?.(deployment.id);
          const latencyMs = performance.now() - started;
          const cost = recordCall({
            ...callOf(model, deployment, ctx, walk),
            usage: result.usage,
            status: "success",
            finishReason: result.finishReason,
            responseModel: result.model,
            stream: false,
            latencyMs,
            upstreamMs: waited.ms,
            ...bodyOf(input, ctx, { text: result.text, toolCalls: result.toolCalls ?? [], finishReason: result.finishReason }),
          });
          reservation.settle(cost.totalCost);
          const outcome: GenerateOutcome = {
            id: result.id ?? `gen-${randomUUID()}`,
            model: model.id,
            provider: model.provider,
            text: result.text,
            ...(result.toolCalls?.length ? { toolCalls: result.toolCalls } : {}),
            ...(result.reasoning?.length ? { reasoning: result.reasoning } : {}),
            finishReason: result.finishReason,
            usage: result.usage,
            cost,
            latencyMs: Math.round(latencyMs),
            deployment: deployment.id,
            attempts: walk.attempts,
            ...(cached.status ? { cache: cached.status } : {}),
            ...("body" in result ? { wire: { body: result.body as string } } : {}),
          };
          cached.store(outcome);
          return outcome;
        } catch (err) {
          reservation.settle(0n); // a failed attempt costs nothing (no-op when it was recorded)
          lastError = err;
          lastDeployment = deployment;
          const next = await nextAttempt(
            route,
            tried,
            retries,
            err,
            { attempt, startedAt: attemptStarted, ctx, walk },
            signal,
            deadline,
            waited,
          );
          if (next === "stop") break;
          if (next === "retry") retries++;
        } finally {
          attempt.ended();
        }
      }
      if (walk.refused || signal.aborted || !worthFallingBack(lastError)) break;
    }
    throw chainFailed(lastError, lastModel, lastDeployment, signal, input, ctx, started, false, walk);
  } finally {
    admission?.done(used);
    release();
  }
}

/**
 * How far a call's chain got: whether a provider was called, and the reservation that failed
 * (402 over a budget, or 503 when the ledger is down), which ends the chain there.
 */
type ChainWalk = { attempted: boolean; refused?: unknown; attempts: number; log: AttemptLog[] };

function abortError(ctx: CallContext, model: Model): AppError {
  return ctx.signal?.aborted
    ? new AppError("invalid_request", "The client closed the request")
    : new AppError("timeout", `${model.provider} (${model.id}) did not answer in time`);
}

function recordFailure(
  model: Model,
  deployment: Deployment | undefined,
  walk: ChainWalk,
  input: GenerateInput,
  ctx: CallContext,
  error: AppError,
  latencyMs: number,
  stream: boolean,
  usage?: TokenUsage,
  ttftMs?: number,
): Cost {
  return recordCall({
    ...callOf(model, deployment, ctx, walk),
    usage,
    status: "error",
    errorCode: ctx.signal?.aborted ? "client_closed" : error.code,
    stream,
    latencyMs,
    ttftMs,
    ...bodyOf(input, ctx, { error: { code: error.code, message: error.message } }),
  });
}

/**
 * What every usage event of a call to `model` carries: who asked, where, the deployment that
 * answered (or last failed) and its price now, and how many provider calls it took.
 */
function callOf(model: Model, deployment: Deployment | undefined, ctx: CallContext, walk: ChainWalk) {
  return {
    identity: ctx.identity,
    endpoint: ctx.endpoint,
    kind: "llm" as const,
    modelId: model.id,
    provider: deployment?.provider ?? model.provider,
    price: deployment ? priceAt(model, deployment) : pricingFor(model.id),
    requestId: ctx.requestId,
    deployment: deployment?.id ?? null,
    attempts: walk.attempts,
    attemptLog: walk.log,
    attribution: ctx.attribution,
  };
}

/**
 * When no model of the chain answered: the error the caller gets (the caller's leaving or the
 * deadline when that is what stopped it, else the last provider error), recorded as one usage
 * event, unless a reservation refused the call before any provider was called (then nothing
 * happened, and as for a rate limit no event is recorded).
 */
function chainFailed(
  lastError: unknown,
  lastModel: Model,
  lastDeployment: Deployment | undefined,
  signal: AbortSignal,
  input: GenerateInput,
  ctx: CallContext,
  started: number,
  stream: boolean,
  walk: ChainWalk,
): AppError {
  if (walk.refused && !walk.attempted) return providerErrorToAppError(walk.refused, lastModel);
  const error =
    signal.aborted && !(lastError instanceof ProviderError) ? abortError(ctx, lastModel) : providerErrorToAppError(lastError, lastModel);
  const deployment = lastDeployment?.model === lastModel.id ? lastDeployment : undefined;
  recordFailure(lastModel, deployment, walk, input, ctx, error, performance.now() - started, stream);
  return error;
}

/**
 * A streamed generation: text deltas as they arrive, then one `done` with usage and cost.
 * Retries and fallbacks happen only before the first delta. A stream cut short (by the provider
 * or by the caller leaving) still records its usage: the provider's count, or ours up to the cut.
 */
export async function* generateStream(input: GenerateInput, ctx: CallContext): AsyncGenerator<GenerationEvent, void, undefined> {
  const chain = candidateModels(input, ctx.identity);
  ctx.logBody ??= await bodyLogging(ctx.identity, ctx.attribution);
  const cached = await lookupResponse(input, chain[0]!, ctx, true);
  if (cached.outcome) return yield* replayAsStream(cached.outcome);
  const started = performance.now();
  const { signal, deadline, release } = deadlineFor(input, ctx);
  const reserve = attemptReserver(input, ctx, deadline);
  let cutAtShutdown = false;
  let used = 0;
  let admission: Admission | undefined;
  try {
    admission = await admitKeyCall(ctx.identity, () => countPromptTokens(input.messages), deadline - Date.now());
    const waited = new UpstreamClock();
    let lastError: unknown;
    let lastModel = chain[0]!;
    const walk: ChainWalk = { attempted: false, attempts: 0, log: [] };
    let lastDeployment: Deployment | undefined;
    for (const model of chain) {
      lastModel = model;
      const route = routeFor(model);
      const unavailable = route.unavailable();
      if (unavailable) {
        lastError = unavailable;
        continue;
      }
      const tried = new Set<string>();
      for (let retries = 0; ;) {
        const next = await startAttempt(route, model, tried, reserve, walk, signal, deadline, waited);
        if ("ended" in next) {
          lastError = next.ended;
          break;
        }
        const { deployment, provider, reservation, attempt, attemptStarted } = next;
        // The upstream call is aborted when the caller leaves, the deadline passes, or the consumer stops.
        const upstream = new AbortController();
        const onAbort = () => upstream.abort(signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
        let text = "";
        const toolCalls: ToolCall[] = [];
        const reasoning: ReasoningBlock[] = [];
        let ttftMs: number | undefined;
        /** Something went to the caller (a passthrough chunk may come before the first token). */
        let sent = false;
        let finished = false;
        let recorded = false;
        // Still streaming when the server's grace period ends: recorded there and then, with what was streamed.
        const untrack = trackInterruptible(() => {
          if (recorded || finished) return;
          recorded = cutAtShutdown = true;
          const cutUsage = sent ? completeUsage(undefined, input, outputText(text, toolCalls)) : undefined;
          used = cutUsage ? cutUsage.inputTokens + cutUsage.outputTokens : 0;
          const cost = recordCall({
            ...callOf(model, deployment, ctx, walk),
            usage: cutUsage,
            status: "error",
            errorCode: "client_closed",
            stream: true,
            latencyMs: performance.now() - started,
            ttftMs,
          });
          reservation.settle(cost.totalCost);
        });
        try {
          let usage: TokenUsage | undefined;
          let finishReason: FinishReason = "stop";
          let id: string | undefined;
          let complete = false; // the provider sent its finish (a stream that just stops is not cached)
          let usageChunk: string | undefined;
          // For a stream, the whole time it is open counts as waiting (on the provider or the caller reading).
          const streamOpened = performance.now();
          const wire = input.wire ? provider.passthrough : undefined;
          const parts = wire
            ? wire.streamChat(toWireRequest(model, deployment, input, true), { signal: upstream.signal })
            : provider.streamText(toRequest(model, deployment, input), { signal: upstream.signal });
          for await (const part of parts) {
            if (part.type === "wire-chunk") {
              if (!sent) ctx.onDeployment?.(deployment.id);
              if (ttftMs === undefined && (part.text || part.toolCalls)) {
                attempt.sample(performance.now() - attemptStarted);
                ttftMs = performance.now() - started;
              }
              text += part.text;
              for (const d of part.toolCalls ?? []) {
                const call = (toolCalls[d.index] ??= { id: "", name: "", arguments: "" });
                if (d.id) call.id = d.id;
                if (d.name) call.name = d.name;
                call.arguments += d.argumentsDelta;
              }
              sent = true;
              yield { type: "wire", data: part.data, model: model.id };
            } else if (part.type === "text-delta") {
              if (!part.text) continue;
              if (ttftMs === undefined) {
                ctx.onDeployment?.(deployment.id);
                attempt.sample(performance.now() - attemptStarted);
              }
              ttftMs ??= performance.now() - started;
              text += part.text;
              sent = true;
              yield { type: "delta", text: part.text, model: model.id };
            } else if (part.type === "reasoning-delta") {
              if (ttftMs === undefined) {
                ctx.onDeployment?.(deployment.id);
                attempt.sample(performance.now() - attemptStarted);
              }
              ttftMs ??= performance.now() - started;
              const block = (reasoning[part.index] ??=
                part.kind === "thinking" ? { type: "thinking", thinking: "", signature: "" } : { type: "redacted_thinking", data: "" });
              if (block.type === "thinking") {
                block.thinking += part.thinking ?? "";
                block.signature += part.signature ?? "";
              } else block.data += part.data ?? "";
              sent = true;
              const { type: _type, ...piece } = part;
              yield { ...piece, type: "reasoning", model: model.id };
            } else if (part.type === "tool-call-delta") {
              if (ttftMs === undefined) {
                ctx.onDeployment?.(deployment.id);
                attempt.sample(performance.now() - attemptStarted);
              }
              ttftMs ??= performance.now() - started;
              const call = (toolCalls[part.index] ??= { id: "", name: "", arguments: "" });
              if (part.id) call.id = part.id;
              if (part.name) call.name = part.name;
              call.arguments += part.argumentsDelta;
              sent = true;
              yield {
                type: "tool-call",
                index: part.index,
                id: part.id,
                name: part.name,
                argumentsDelta: part.argumentsDelta,
                model: model.id,
              };
            } else {
              usage = part.usage;
              finishReason = part.finishReason;
              id = part.id;
              if ("usageChunk" in part) usageChunk = part.usageChunk;
              complete = true;
            }
          }
          finished = true;
          waited.ms += performance.now() - streamOpened;
          const latencyMs = performance.now() - started;
          const finalUsage = completeUsage(usage, input, outputText(text, toolCalls));
          used = finalUsage.inputTokens + finalUsage.outputTokens;
          if (!sent) ctx.onDeployment?.(deployment.id);
          // Nothing streamed before the finish: the answer's time is the sample.
          attempt.succeeded(performance.now() - attemptStarted, finalUsage.inputTokens + finalUsage.outputTokens);
          const cost = recordCall({
            ...callOf(model, deployment, ctx, walk),
            usage: finalUsage,
            status: "success",
            finishReason,
            stream: true,
            latencyMs,
            ttftMs,
            upstreamMs: waited.ms,
            // A stream is stored as its assembled text and tool calls.
            ...bodyOf(input, ctx, { text, toolCalls: toolCalls.filter(Boolean), finishReason }),
          });
          reservation.settle(cost.totalCost);
          recorded = true;
          const outcome: GenerateOutcome = {
            id: id ?? `gen-${randomUUID()}`,
            model: model.id,
            provider: model.provider,
            text,
            ...(toolCalls.length ? { toolCalls: toolCalls.filter(Boolean) } : {}),
            ...(reasoning.length ? { reasoning: reasoning.filter(Boolean) } : {}),
            finishReason,
            usage: finalUsage,
            cost,
            latencyMs: Math.round(latencyMs),
            ttftMs: ttftMs === undefined ? undefined : Math.round(ttftMs),
            deployment: deployment.id,
            attempts: walk.attempts,
            ...(cached.status ? { cache: cached.status } : {}),
            ...(wire ? { wire: usageChunk !== undefined ? { usageChunk } : {} } : {}),
          };
          if (complete) cached.store(outcome);
          yield { type: "done", outcome };
          return;
        } catch (err) {
          lastError = err;
          lastDeployment = deployment;
          if (sent) {
            // Bytes already went to the caller: no retry, no fallback; record what was streamed.
            const error = signal.aborted ? abortError(ctx, model) : providerErrorToAppError(err, model);
            const tokens = ctx.signal?.aborted ? 0 : countTextTokens(text);
            if (ctx.signal?.aborted) attempt.ended();
            else void attempt.failed(err, performance.now() - attemptStarted, tokens).catch(() => {});
            if (!recorded) {
              const partial = completeUsage(undefined, input, outputText(text, toolCalls));
              used = partial.inputTokens + partial.outputTokens;
              const cost = recordFailure(model, deployment, walk, input, ctx, error, performance.now() - started, true, partial, ttftMs);
              reservation.settle(cost.totalCost);
            }
            recorded = true;
            throw error;
          }
          reservation.settle(0n); // nothing streamed, nothing paid
          const next = await nextAttempt(
            route,
            tried,
            retries,
            err,
            { attempt, startedAt: attemptStarted, ctx, walk },
            signal,
            deadline,
            waited,
          );
          if (next === "stop") break;
          if (next === "retry") retries++;
        } finally {
          attempt.ended();
          untrack();
          signal.removeEventListener("abort", onAbort);
          if (!finished) upstream.abort();
          // The consumer stopped early (return() at a yield): record what was streamed so far.
          if (!recorded && !finished && sent) {
            const partial = completeUsage(undefined, input, outputText(text, toolCalls));
            used = partial.inputTokens + partial.outputTokens;
            const cost = recordCall({
              ...callOf(model, deployment, ctx, walk),
              usage: partial,
              status: "error",
              errorCode: "client_closed",
              stream: true,
              latencyMs: performance.now() - started,
              ttftMs,
            });
            reservation.settle(cost.totalCost);
          }
          reservation.settle(0n); // every other way out: nothing was paid (a no-op once settled)
        }
      }
      if (walk.refused || signal.aborted || !worthFallingBack(lastError)) break;
    }
    if (cutAtShutdown) throw abortError(ctx, lastModel);
    throw chainFailed(lastError, lastModel, lastDeployment, signal, input, ctx, started, true, walk);
  } finally {
    admission?.done(used);
    release();
  }
}
