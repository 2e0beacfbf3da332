import "server-only";
// The response cache: an exact-match cache of text generations, opt-in per request (`cache: true`,
// or the header `x-model-service-cache: true`) or per API key (its `cacheResponses` setting).
//
//   key     SHA-256 of the caller's scope (their user, else their key), the requested model, the
//           fallbacks, the messages and every generation parameter (providers/types.ts
//           GenerationParameters: temperature, max tokens, top_p, stop, tools, tool choice,
//           response format, the end-user id...), taken from the one list of them;
//   when    only requests with temperature 0: a request without a temperature samples at the
//           provider's default (above 0), and a sampled answer is not "the" answer. `cache: "force"`
//           (header `force`) caches any request, at the caller's word;
//   TTL     RESPONSE_CACHE_TTL by default, a request may ask for 1 s to RESPONSE_CACHE_MAX_TTL;
//   a hit   no provider call and no budget check; one usage event with status `cached`, no tokens
//           and no cost, and `saved_cost` = what the answer's tokens cost at the model's current
//           price; the answer carries the original token counts, a cost of 0 and a new id. A
//           streamed request is answered from the cache as a stream (the same frames).
// Entries live in cache-store.ts (memory, then Redis or PostgreSQL). generation.ts calls
// `lookupResponse` before its provider calls and `store` after a complete answer. The request's
// cache directives (body fields, headers) are read at the edge (server/web/cache-directives.ts):
// this module takes them as a typed CacheRequest.
import { createHash, randomUUID } from "node:crypto";
import { loadEnv } from "../../kernel/env.ts";
import { getApiKeyById } from "../../access/key-lookup.ts";
import type { Identity } from "../../access/identity.ts";
import { generationParameters } from "../../providers/types.ts";
import type { CatalogueModel } from "../catalogue/index.ts";
import { pricingFor, resolveModel } from "../catalogue/index.ts";
import { costOf } from "../catalogue/index.ts";
import { cacheGet, cacheSetMany } from "./cache-store.ts";
import type { CacheMode, CacheRequest, CacheStatus } from "../../web/cache-directives.ts";
import { recordCall } from "../usage/index.ts";
import type { CallContext, GenerateInput, GenerateOutcome, GenerationEvent } from "./generation.ts";

/** What a stored entry holds: the answer, not who asked or what it cost. */
type StoredAnswer = Pick<GenerateOutcome, "model" | "provider" | "text" | "toolCalls" | "finishReason" | "usage">;

export type ResponseLookup = {
  status: CacheStatus | undefined;
  /** The answer, on a hit (usage already recorded). */
  outcome?: GenerateOutcome;
  /** Stores a complete answer of a miss; a no-op otherwise. */
  store(outcome: GenerateOutcome): void;
};

const NO_CACHE: ResponseLookup = { status: undefined, store: () => {} };

/** The effective mode: the request's, else the API key's setting. */
async function modeFor(identity: Identity, request: CacheRequest | undefined): Promise<CacheMode> {
  if (request?.mode) return request.mode;
  if (identity.kind !== "apiKey") return "off";
  const key = await getApiKeyById(identity.apiKeyId);
  return key?.cacheResponses ? "on" : "off";
}

/** Whose cache: a user's entries are shared by their keys and sessions, never with anyone else. */
export function cacheScope(identity: Identity): string {
  if (identity.kind === "anonymous") return "anonymous";
  if (identity.userId) return `user:${identity.userId}`;
  return `key:${identity.apiKeyId}`;
}

/** JSON with sorted keys and no undefined fields, so equal requests hash equally. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return "null";
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** The cache key of a request: its scope, the model and what can change the answer. */
export function responseCacheKey(identity: Identity, model: string, input: GenerateInput): string {
  // Every generation parameter (providers/types.ts GENERATION_PARAMETERS), so a new one is in the key by construction.
  const request = {
    v: 1,
    scope: cacheScope(identity),
    model,
    fallbacks: input.fallbacks ?? [],
    messages: input.messages,
    ...generationParameters(input),
    // A passthrough call's body holds what the service does not read (tools, seed...): all of it,
    // but whether it streams (a streamed request is answered from a plain one's entry and back).
    ...(input.wire ? { wire: wireKeyOf(input.wire.body) } : {}),
  };
  return `r:${createHash("sha256").update(canonicalJson(request)).digest("base64url")}`;
}

function wireKeyOf(body: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { model: _model, stream: _stream, stream_options: _options, ...rest } = body;
  return rest;
}

/**
 * Before any provider call: the cached answer when there is one (recorded as a `cached` usage
 * event), else how to store the answer. Tells the caller the status through `ctx.onCacheStatus`.
 */
export async function lookupResponse(
  input: GenerateInput,
  model: CatalogueModel,
  ctx: CallContext,
  stream: boolean,
): Promise<ResponseLookup> {
  const mode = await modeFor(ctx.identity, input.cache);
  if (mode === "off") return NO_CACHE;
  if (mode === "on" && input.temperature !== 0) {
    ctx.onCacheStatus?.("bypass");
    return { status: "bypass", store: () => {} };
  }
  const started = performance.now();
  const key = responseCacheKey(ctx.identity, model.id, input);
  const ttlMs = (input.cache?.ttlSeconds ?? loadEnv().RESPONSE_CACHE_TTL) * 1000;
  const raw = await cacheGet(key);
  const answer = raw ? parseAnswer(raw) : undefined;
  const outcome = answer && answerFromCache(answer, ctx, stream, started);
  if (outcome) {
    ctx.onCacheStatus?.("hit");
    return { status: "hit", outcome, store: () => {} };
  }
  ctx.onCacheStatus?.("miss");
  return {
    status: "miss",
    store: (o) => {
      const stored: StoredAnswer = {
        model: o.model,
        provider: o.provider,
        text: o.text,
        ...(o.toolCalls?.length ? { toolCalls: o.toolCalls } : {}),
        finishReason: o.finishReason,
        usage: o.usage,
      };
      cacheSetMany([{ key, value: JSON.stringify(stored) }], ttlMs);
    },
  };
}

function parseAnswer(raw: string): StoredAnswer | undefined {
  try {
    const a = JSON.parse(raw) as StoredAnswer;
    return typeof a.text === "string" && a.usage && typeof a.model === "string" ? a : undefined;
  } catch {
    return undefined;
  }
}

/** A hit's outcome, its usage event recorded; undefined when the answering model is gone or disabled since (then a miss). */
function answerFromCache(answer: StoredAnswer, ctx: CallContext, stream: boolean, started: number): GenerateOutcome | undefined {
  let price;
  try {
    if (!resolveModel(answer.model).enabled) return undefined;
    price = pricingFor(answer.model);
  } catch {
    return undefined;
  }
  const saved = costOf(price, answer.usage).totalCost;
  const latencyMs = performance.now() - started;
  const cost = recordCall({
    identity: ctx.identity,
    endpoint: ctx.endpoint,
    kind: "llm",
    modelId: answer.model,
    provider: answer.provider,
    price,
    usage: undefined,
    status: "cached",
    stream,
    latencyMs,
    ttftMs: stream ? latencyMs : undefined,
    upstreamMs: 0,
    requestId: ctx.requestId,
    savedCost: saved,
    attribution: ctx.attribution,
  });
  return {
    id: `gen-${randomUUID()}`,
    model: answer.model,
    provider: answer.provider,
    text: answer.text,
    ...(answer.toolCalls?.length ? { toolCalls: answer.toolCalls } : {}),
    finishReason: answer.finishReason,
    usage: answer.usage,
    cost: { inputCost: cost.inputCost, outputCost: cost.outputCost, totalCost: cost.totalCost },
    latencyMs: Math.round(latencyMs),
    ...(stream ? { ttftMs: Math.round(latencyMs) } : {}),
    cache: "hit",
    savedCost: saved,
  };
}

/** A cached answer as the events of a stream: its text, its tool calls whole, then `done`. */
export function* replayAsStream(outcome: GenerateOutcome): Generator<GenerationEvent, void, undefined> {
  if (outcome.text) yield { type: "delta", text: outcome.text, model: outcome.model };
  for (const [index, call] of (outcome.toolCalls ?? []).entries()) {
    yield { type: "tool-call", index, id: call.id, name: call.name, argumentsDelta: call.arguments, model: outcome.model };
  }
  yield { type: "done", outcome };
}
