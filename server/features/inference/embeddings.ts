import "server-only";
// Embeddings across providers: the model from the catalogue (it must be an embedding model), its
// provider from the registry (503 with the reason when unavailable), the texts sent in batches of
// the provider's per-call limit in order, and exactly one usage event per request with its cost.
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
import { costOf, type Cost, type Pico } from "../catalogue/index.ts";
import { countTextTokens, tokenBound } from "./tokens.ts";
import { recordCall } from "../usage/index.ts";

/** How long past the provider deadline a reservation is kept for its settle to arrive. */
const LEASE_GRACE_MS = 60_000;

/** The most embedding `texts` can cost with `model`: their tokens, estimated high (tokens.ts), at its price now. */
export function largestEmbeddingCost(model: CatalogueModel, texts: readonly string[]): Pico {
  const price = pricingFor(model.id);
  if (Number(price.inputPerMTok) === 0) return 0n;
  const counted = texts.reduce((n, t) => n + countTextTokens(t), 0);
  return costOf(price, { inputTokens: tokenBound(counted), outputTokens: 0, cachedInputTokens: 0 }).totalCost;
}

/** Texts per request (OpenAI's own limit per call); more answer 413. */
export const MAX_TEXTS_PER_REQUEST = 2048;

export type EmbedInput = {
  model: string;
  texts: string[];
  /** Output size, for models that can shorten their vectors (text-embedding-3-*, local-hash-384). */
  dimensions?: number;
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

  // Only the texts the cache does not hold go to the provider; `complete` puts the answer back in order.
  const cache = await lookupEmbeddings(identity, model, input.dimensions, input.texts, embeddingCacheApplies(model, input.cache));
  const embeddings: number[][] = [];
  const tokensPerText: number[] = [];
  let inputTokens = 0;
  const timeoutMs = loadEnv().PROVIDER_TIMEOUT_MS;
  const reservation = await reserveBudgets(identity, () => largestEmbeddingCost(model, cache.toEmbed), {
    leaseMs: timeoutMs + LEASE_GRACE_MS,
  });
  const { signal, release } = startDeadline(timeoutMs, ctx.signal);
  try {
    // One batch after the other, so the answer keeps the order of the texts.
    for (let i = 0; i < cache.toEmbed.length; i += provider.maxEmbeddingsPerCall) {
      const batch = cache.toEmbed.slice(i, i + provider.maxEmbeddingsPerCall);
      const result = await provider.generateEmbeddings(
        { model: model.id, texts: batch, dimensions: input.dimensions, user: input.user },
        { signal },
      );
      if (result.embeddings.length !== batch.length) {
        throw new AppError(
          "provider_error",
          `${model.provider} (${model.id}) returned ${result.embeddings.length} embeddings for ${batch.length} texts`,
        );
      }
      embeddings.push(...result.embeddings);
      tokensPerText.push(...apportionTokens(batch, result.usage.inputTokens));
      inputTokens += result.usage.inputTokens;
    }
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
  });
}
