import "server-only";
// Embeddings across providers: the model from the catalogue (it must be an embedding model), its
// provider from the registry (503 with the reason when unavailable), looked up once per call, the
// texts sent in batches of the provider's per-call limits (`maxEmbeddingsPerCall`, and its token
// limits where it has them: embedding-batches.ts), a few in
// parallel, the answer in the texts' order, and exactly one usage event per request with its cost.
// Batching is decided here alone: an adapter makes exactly one provider call per batch.
// The cost of the texts to embed is known from their tokens before the call: it is reserved
// against the caller's budgets (budgets.ts; 402 when it does not fit) and settled after it.
// REST (/v1/llm/generate-embeddings, /v1/embeddings), tRPC (embeddings.generate) and the vector
// documents and text searches all use `generateEmbeddings`.
import { startDeadline } from "./deadline.ts";
import { loadEnv } from "../../kernel/env.ts";
import { AppError } from "../../kernel/errors.ts";
import type { Provider } from "../../providers/types.ts";
import type { Identity } from "../../access/auth.ts";
import { reserveBudgets } from "../budgets/index.ts";
import { requireModelAllowed } from "../../access/model-access.ts";
import { admitKeyCall, type Admission } from "./key-admission.ts";
import { chooseDeployment, providerErrorToAppError, UpstreamClock } from "./generation.ts";
import { embeddingResize, pricingFor, resolveModel, type CatalogueModel, type Price } from "../catalogue/index.ts";
import { describeSizes, fitsSize } from "../../../lib/embedding-sizes.ts";
import { deploymentFailed, routeFor, type Deployment, type Route } from "../routing/index.ts";
import { apportionTokens, embeddingCacheApplies, lookupEmbeddings } from "./embedding-cache.ts";
import { embeddingBatches, embeddingTokenSizes } from "./embedding-batches.ts";
import { costOf, type Cost, type Pico } from "../catalogue/index.ts";
import { countTextTokens, tokenBound } from "./tokens.ts";
import { recordCall, type Attribution } from "../usage/index.ts";

/** How long past the provider deadline a reservation is kept for its settle to arrive. */
const LEASE_GRACE_MS = 60_000;

/** The most embedding `texts` can cost at `price`: their tokens, estimated high (tokens.ts). */
export function largestEmbeddingCost(price: Price, texts: readonly string[]): Pico {
  if (Number(price.inputPerMTok) === 0) return 0n;
  const counted = texts.reduce((n, t) => n + countTextTokens(t), 0);
  return costOf(price, { inputTokens: tokenBound(counted), outputTokens: 0, cachedInputTokens: 0 }).totalCost;
}

/** Batches of one request sent to the provider at once (a provider with a small per-call limit gets many). */
const MAX_PARALLEL_BATCHES = 4;

/** Runs `work` on every item, at most `limit` at a time; rejects with the first failure once the running ones settle. */
async function inParallel<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        await work(items[i]!, i);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.err;
}

/** Texts per request (OpenAI's own limit per call); more answer 413. */
export const MAX_TEXTS_PER_REQUEST = 2048;

export type EmbedInput = {
  model: string;
  texts: string[];
  /** Output size, for models that can shorten their vectors (text-embedding-3-*, local-hash-384). */
  dimensions?: number;
  /**
   * Instead of `dimensions`: the size the vectors must have (a collection's). `dimensions` is then
   * asked for only when the model's own size differs (the model looked up once, with the call's).
   */
  fitDimensions?: number;
  user?: string;
  /** The embedding cache (embedding-cache.ts): on unless false. */
  cache?: boolean;
};

export type EmbedContext = {
  /** Recorded with the usage event, e.g. "/v1/llm/generate-embeddings". */
  endpoint: string;
  requestId: string;
  /** Aborts when the caller goes away. */
  signal?: AbortSignal;
  /** Who and what the call is for (features/usage attributionOf); stored on its usage event. */
  attribution?: Attribution;
};

export type EmbedOutcome = {
  model: string;
  provider: string;
  embeddings: number[][];
  usage: { inputTokens: number };
  cost: Cost;
  latencyMs: number;
  /** Texts answered from the embedding cache, and what they would have cost. */
  cached: { texts: number; savedCost: Pico };
};

/** The catalogue's embedding model (the deployments that can serve it are the routing's: `routeFor`). */
export function embeddingModel(idOrAlias: string): CatalogueModel {
  const model = resolveModel(idOrAlias);
  if (model.type !== "embedding") {
    throw new AppError(
      "invalid_request",
      `Model ${model.id} is a ${model.type} model; use an embedding model such as local-hash-384 or text-embedding-3-small`,
      {
        model: model.id,
      },
    );
  }
  return model;
}

/**
 * A size the model cannot make is refused before anything is paid for: a collection's
 * (`fitDimensions`: 400 naming both sizes, so that nobody searches with vectors of another
 * space), or `dimensions` asked for.
 */
function refuseUnfitSize(model: CatalogueModel, input: EmbedInput): void {
  const sizes = { dimensions: model.embeddingDimensions, resize: embeddingResize(model.id) };
  if (input.fitDimensions !== undefined && !fitsSize(sizes, input.fitDimensions)) {
    throw new AppError(
      "invalid_request",
      `The collection has ${input.fitDimensions} dimensions and ${model.id} makes ${describeSizes(sizes)}: choose an embedding model that makes ${input.fitDimensions}`,
      { model: model.id, collection_dimensions: input.fitDimensions, model_dimensions: model.embeddingDimensions },
    );
  }
  if (input.fitDimensions === undefined && input.dimensions !== undefined && !fitsSize(sizes, input.dimensions)) {
    throw new AppError("invalid_request", `dimensions: ${model.id} cannot make ${input.dimensions}; it makes ${describeSizes(sizes)}`, {
      field: "dimensions",
      model: model.id,
    });
  }
}

/** `model`'s route, or why it cannot be served now (disabled, no provider, a provider that does not embed). */
function embeddingRoute(model: CatalogueModel): Route {
  const route = routeFor(model);
  const problem = route.unavailable();
  if (problem) throw problem;
  return route;
}

export async function generateEmbeddings(identity: Identity, input: EmbedInput, ctx: EmbedContext): Promise<EmbedOutcome> {
  if (input.texts.length > MAX_TEXTS_PER_REQUEST) {
    throw new AppError("payload_too_large", `At most ${MAX_TEXTS_PER_REQUEST} texts per request; this one has ${input.texts.length}`, {
      limit: MAX_TEXTS_PER_REQUEST,
      received: input.texts.length,
    });
  }
  const model = embeddingModel(input.model);
  requireModelAllowed(identity, model.id, input.model);
  refuseUnfitSize(model, input);
  const route = embeddingRoute(model);
  const started = performance.now();

  // Only the texts the cache does not hold go to a provider; `complete` puts the answer back in order.
  const dimensions =
    input.fitDimensions === undefined
      ? input.dimensions
      : model.embeddingDimensions === input.fitDimensions
        ? undefined
        : input.fitDimensions;
  const cache = await lookupEmbeddings(identity, model, dimensions, input.texts, embeddingCacheApplies(model, input.cache));
  const timeoutMs = loadEnv().PROVIDER_TIMEOUT_MS;
  const { signal, release, deadline } = startDeadline(timeoutMs, ctx.signal);
  const call: EmbeddingCall = { identity, model, ctx, attempts: 0 };
  // The key's in-flight slot and tokens per minute (key-admission.ts), settled with the tokens used.
  let used = 0;
  let admission: Admission | undefined;
  try {
    if (cache.toEmbed.length > 0) {
      admission = await admitKeyCall(identity, () => cache.toEmbed.reduce((n, t) => n + countTextTokens(t), 0), deadline - Date.now());
      const tried = new Set<string>();
      let choice = await chooseDeployment(route, tried, signal, deadline, new UpstreamClock());
      if (choice instanceof AppError) throw choice;
      call.deployment = choice.deployment;
      // A text the provider would refuse for its length is refused before anything is paid for.
      const sizes = await embeddingTokenSizes(cache.toEmbed, choice.provider.embeddingTokenLimits, model);
      const price = priceOf(call);
      const reservation = await reserveBudgets(identity, () => largestEmbeddingCost(price, cache.toEmbed), {
        leaseMs: deadline - Date.now() + LEASE_GRACE_MS,
      });
      for (;;) {
        const { deployment, provider } = choice;
        call.deployment = deployment;
        call.attempts++;
        tried.add(deployment.id);
        const attempt = route.started(deployment);
        const attemptStarted = performance.now();
        const out: EmbeddedBatches = { embeddings: [], tokensPerText: [], inputTokens: 0 };
        try {
          await embedBatches(provider, deployment, model, cache.toEmbed, sizes, dimensions, input.user, signal, out);
        } catch (err) {
          used += out.inputTokens;
          if (ctx.signal?.aborted) attempt.ended();
          else await attempt.failed(err, performance.now() - attemptStarted, out.inputTokens);
          // Nothing paid for yet, the deployment's fault, another one to try: the call moves there.
          if (out.inputTokens === 0 && !signal.aborted && deploymentFailed(err) && route.hasAlternative(tried)) {
            const next = await chooseDeployment(route, tried, signal, deadline, new UpstreamClock());
            if (!(next instanceof AppError)) {
              choice = next;
              continue;
            }
          }
          const error = ctx.signal?.aborted
            ? new AppError("invalid_request", "The client closed the request")
            : signal.aborted
              ? new AppError("timeout", `${deployment.provider} (${model.id}) did not answer in time`)
              : err instanceof AppError
                ? err
                : providerErrorToAppError(err, model);
          const cost = record(
            call,
            out.inputTokens,
            "error",
            performance.now() - started,
            ctx.signal?.aborted ? "client_closed" : error.code,
          );
          reservation.settle(cost.totalCost); // the batches embedded before the failure were paid for
          throw error;
        }
        attempt.succeeded(performance.now() - attemptStarted, out.inputTokens);
        used += out.inputTokens;
        // complete() also counts the tokens of the texts the cache answered (hitTokens).
        const all = cache.complete(out.embeddings, out.tokensPerText);
        const savedCost = savedCostOf(model, cache.hitTokens);
        const cost = record(call, out.inputTokens, "success", performance.now() - started, undefined, savedCost);
        reservation.settle(cost.totalCost);
        return outcome(call, all, out.inputTokens, cost, started, cache.hits, savedCost);
      }
    }
    const all = cache.complete([], []);
    const savedCost = savedCostOf(model, cache.hitTokens);
    const cost = record(call, 0, "cached", performance.now() - started, undefined, savedCost);
    return outcome(call, all, 0, cost, started, cache.hits, savedCost);
  } finally {
    admission?.done(used);
    release();
  }
}

/** Who asked for which model, and the deployment that answered (or last failed), with how many provider calls it took. */
type EmbeddingCall = { identity: Identity; model: CatalogueModel; ctx: EmbedContext; deployment?: Deployment; attempts: number };

/** One attempt's embeddings, in the order of its texts, and the tokens each batch used (filled in as batches finish). */
type EmbeddedBatches = { embeddings: number[][]; tokensPerText: number[]; inputTokens: number };

/** What the call is priced at: the deployment's own price when it has one, else the model's now. */
function priceOf(call: EmbeddingCall): Price {
  return call.deployment?.price ?? pricingFor(call.model.id);
}

/** What the cache saved: the tokens of the texts it answered, at the model's price now. */
function savedCostOf(model: CatalogueModel, hitTokens: number): Pico {
  return hitTokens > 0 ? costOf(pricingFor(model.id), { inputTokens: hitTokens, outputTokens: 0, cachedInputTokens: 0 }).totalCost : 0n;
}

/**
 * Embeds `texts` on one deployment: in batches of its provider's per-call limits (the adapter
 * makes one call per batch), a few at a time; the first failure stops the batches still running
 * (those that finished were paid for: `out.inputTokens`).
 */
async function embedBatches(
  provider: Provider,
  deployment: Deployment,
  model: CatalogueModel,
  texts: readonly string[],
  sizes: readonly number[] | undefined,
  dimensions: number | undefined,
  user: string | undefined,
  signal: AbortSignal,
  out: EmbeddedBatches,
): Promise<void> {
  const limits = provider.embeddingTokenLimits;
  const sizeByText = sizes && new Map(texts.map((t, i) => [t, sizes[i]!]));
  const batches = embeddingBatches(
    texts,
    provider.maxEmbeddingsPerCall,
    limits && sizeByText ? { perCall: limits.perCall, sizeOf: (t) => sizeByText.get(t) ?? Buffer.byteLength(t) } : undefined,
  );
  const results: { embeddings: number[][]; inputTokens: number }[] = [];
  const failed = new AbortController();
  const batchSignal = AbortSignal.any([signal, failed.signal]);
  await inParallel(batches, MAX_PARALLEL_BATCHES, async (batch, index) => {
    let result;
    try {
      result = await provider.generateEmbeddings(
        {
          model: deployment.providerModel,
          ...(deployment.exactModel ? { exactModel: true } : {}),
          texts: batch,
          dimensions,
          user,
        },
        { signal: batchSignal },
      );
    } catch (err) {
      failed.abort(err);
      throw err;
    }
    if (result.embeddings.length !== batch.length) {
      const err = new AppError(
        "provider_error",
        `${deployment.provider} (${model.id}) returned ${result.embeddings.length} embeddings for ${batch.length} texts`,
      );
      failed.abort(err);
      throw err;
    }
    out.inputTokens += result.usage.inputTokens;
    results[index] = { embeddings: result.embeddings, inputTokens: result.usage.inputTokens };
  });
  batches.forEach((batch, i) => {
    const r = results[i]!;
    out.embeddings.push(...r.embeddings);
    out.tokensPerText.push(...apportionTokens(batch, r.inputTokens));
  });
}

function outcome(
  call: EmbeddingCall,
  embeddings: number[][],
  inputTokens: number,
  cost: Cost,
  started: number,
  hits: number,
  savedCost: Pico,
): EmbedOutcome {
  return {
    model: call.model.id,
    provider: call.deployment?.provider ?? call.model.provider,
    embeddings,
    usage: { inputTokens },
    cost,
    latencyMs: Math.round(performance.now() - started),
    cached: { texts: hits, savedCost },
  };
}

function record(
  call: EmbeddingCall,
  inputTokens: number,
  status: "success" | "error" | "cached",
  latencyMs: number,
  errorCode?: string,
  savedCost?: Pico,
): Cost {
  const { identity, model, ctx, deployment } = call;
  return recordCall({
    identity,
    endpoint: ctx.endpoint,
    kind: "embedding",
    modelId: model.id,
    provider: deployment?.provider ?? model.provider,
    price: priceOf(call),
    usage: { inputTokens, outputTokens: 0, cachedInputTokens: 0, reasoningTokens: 0 },
    status,
    errorCode,
    stream: false,
    latencyMs,
    requestId: ctx.requestId,
    savedCost,
    deployment: deployment?.id ?? null,
    attempts: call.attempts,
    attribution: ctx.attribution,
  });
}
