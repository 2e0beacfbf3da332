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
import { getProvider } from "../../providers/registry.ts";
import type { Provider } from "../../providers/types.ts";
import type { Identity } from "../../access/auth.ts";
import { reserveBudgets } from "../budgets/index.ts";
import { providerErrorToAppError } from "./generation.ts";
import { modelAvailability, pricingFor, resolveModel, type CatalogueModel } from "../catalogue/index.ts";
import { apportionTokens, embeddingCacheApplies, lookupEmbeddings } from "./embedding-cache.ts";
import { embeddingBatches, embeddingTokenSizes } from "./embedding-batches.ts";
import { costOf, type Cost, type Pico } from "../catalogue/index.ts";
import { countTextTokens, tokenBound } from "./tokens.ts";
import { recordCall, type Attribution } from "../usage/index.ts";

/** How long past the provider deadline a reservation is kept for its settle to arrive. */
const LEASE_GRACE_MS = 60_000;

/** The most embedding `texts` can cost with `model`: their tokens, estimated high (tokens.ts), at its price now. */
export function largestEmbeddingCost(model: CatalogueModel, texts: readonly string[]): Pico {
  const price = pricingFor(model.id);
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

/** The catalogue's embedding model and the provider that can serve it now, or the reason it cannot. */
export function embeddingModel(idOrAlias: string): { model: CatalogueModel; provider: Provider } {
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
  if (!model.enabled) throw new AppError("model_disabled", `Model ${model.id} is disabled by an admin`, { model: model.id });
  const availability = modelAvailability(model);
  if (!availability.available) throw new AppError("unavailable", availability.reason ?? `Model ${model.id} is unavailable`);
  const provider = getProvider(model.provider);
  if (!provider) throw new AppError("unavailable", `Provider ${model.provider} of model ${model.id} is not configured`);
  const status = provider.status();
  if (!status.available) throw new AppError("unavailable", `Model ${model.id} is unavailable: ${status.reason}`);
  if (provider.maxEmbeddingsPerCall < 1) throw new AppError("invalid_request", `Provider ${provider.name} does not embed text`);
  return { model, provider };
}

export async function generateEmbeddings(identity: Identity, input: EmbedInput, ctx: EmbedContext): Promise<EmbedOutcome> {
  if (input.texts.length > MAX_TEXTS_PER_REQUEST) {
    throw new AppError("payload_too_large", `At most ${MAX_TEXTS_PER_REQUEST} texts per request; this one has ${input.texts.length}`, {
      limit: MAX_TEXTS_PER_REQUEST,
      received: input.texts.length,
    });
  }
  const { model, provider } = embeddingModel(input.model);
  const started = performance.now();
  // A text the provider would refuse for its length is refused before anything is paid for.
  const limits = provider.embeddingTokenLimits;
  const sizes = await embeddingTokenSizes(input.texts, limits, model);

  // Only the texts the cache does not hold go to the provider; `complete` puts the answer back in order.
  const dimensions =
    input.fitDimensions === undefined
      ? input.dimensions
      : model.embeddingDimensions === input.fitDimensions
        ? undefined
        : input.fitDimensions;
  const cache = await lookupEmbeddings(identity, model, dimensions, input.texts, embeddingCacheApplies(model, input.cache));
  const timeoutMs = loadEnv().PROVIDER_TIMEOUT_MS;
  const reservation = await reserveBudgets(identity, () => largestEmbeddingCost(model, cache.toEmbed), {
    leaseMs: timeoutMs + LEASE_GRACE_MS,
  });
  const { signal, release } = startDeadline(timeoutMs, ctx.signal);
  // The batches: the provider's per-call limits each (the adapter makes one call per batch).
  const sizeByText = sizes && new Map(input.texts.map((t, i) => [t, sizes[i]!]));
  const batches = embeddingBatches(
    cache.toEmbed,
    provider.maxEmbeddingsPerCall,
    limits && sizeByText ? { perCall: limits.perCall, sizeOf: (t) => sizeByText.get(t) ?? Buffer.byteLength(t) } : undefined,
  );
  const results: { embeddings: number[][]; inputTokens: number }[] = [];
  let inputTokens = 0;
  // The first failure stops the batches still running; those that finished were paid for.
  const failed = new AbortController();
  const batchSignal = AbortSignal.any([signal, failed.signal]);
  try {
    await inParallel(batches, MAX_PARALLEL_BATCHES, async (batch, index) => {
      let result;
      try {
        result = await provider.generateEmbeddings(
          { model: model.id, texts: batch, dimensions, user: input.user },
          { signal: batchSignal },
        );
      } catch (err) {
        failed.abort(err);
        throw err;
      }
      if (result.embeddings.length !== batch.length) {
        const err = new AppError(
          "provider_error",
          `${model.provider} (${model.id}) returned ${result.embeddings.length} embeddings for ${batch.length} texts`,
        );
        failed.abort(err);
        throw err;
      }
      inputTokens += result.usage.inputTokens;
      results[index] = { embeddings: result.embeddings, inputTokens: result.usage.inputTokens };
    });
  } catch (err) {
    const error = ctx.signal?.aborted
      ? new AppError("invalid_request", "The client closed the request")
      : signal.aborted
        ? new AppError("timeout", `${model.provider} (${model.id}) did not answer in time`)
        : providerErrorToAppError(err, model);
    const cost = record(
      identity,
      model,
      ctx,
      inputTokens,
      "error",
      performance.now() - started,
      ctx.signal?.aborted ? "client_closed" : error.code,
    );
    reservation.settle(cost.totalCost); // the batches embedded before the failure were paid for
    throw error;
  } finally {
    release();
  }
  // In the order of the texts, whatever order the batches finished in.
  const embeddings: number[][] = [];
  const tokensPerText: number[] = [];
  batches.forEach((batch, i) => {
    const r = results[i]!;
    embeddings.push(...r.embeddings);
    tokensPerText.push(...apportionTokens(batch, r.inputTokens));
  });
  const all = cache.complete(embeddings, tokensPerText);
  const savedCost = cache.hits
    ? costOf(pricingFor(model.id), { inputTokens: cache.hitTokens, outputTokens: 0, cachedInputTokens: 0 }).totalCost
    : 0n;
  const latencyMs = performance.now() - started;
  const status = cache.toEmbed.length === 0 && cache.hits > 0 ? "cached" : "success";
  const cost = record(identity, model, ctx, inputTokens, status, latencyMs, undefined, savedCost);
  reservation.settle(cost.totalCost);
  return {
    model: model.id,
    provider: model.provider,
    embeddings: all,
    usage: { inputTokens },
    cost,
    latencyMs: Math.round(latencyMs),
    cached: { texts: cache.hits, savedCost },
  };
}

function record(
  identity: Identity,
  model: CatalogueModel,
  ctx: EmbedContext,
  inputTokens: number,
  status: "success" | "error" | "cached",
  latencyMs: number,
  errorCode?: string,
  savedCost?: Pico,
): Cost {
  return recordCall({
    identity,
    endpoint: ctx.endpoint,
    kind: "embedding",
    modelId: model.id,
    provider: model.provider,
    price: pricingFor(model.id),
    usage: { inputTokens, outputTokens: 0, cachedInputTokens: 0, reasoningTokens: 0 },
    status,
    errorCode,
    stream: false,
    latencyMs,
    requestId: ctx.requestId,
    savedCost,
    attribution: ctx.attribution,
  });
}
