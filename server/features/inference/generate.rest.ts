import "server-only";
// POST /v1/llm/generate: the original service's generation endpoint, plain and streamed.
import { z } from "zod";
import { safeString } from "../../kernel/validation.ts";
import { generationParameters, type EveryGenerationParameter } from "../../providers/types.ts";
import { generate, generateStream, type GenerateInput, type GenerateOutcome, type GenerationEvent } from "./generation.ts";
import { deploymentTracker } from "./deployment-header.ts";
import { usdNumber } from "../catalogue/index.ts";
import { cacheRequestFrom, cacheStatusTracker } from "../../web/cache-directives.ts";
import { endpoint, json, route } from "../../http/endpoint.ts";
import { eventStreamResponse, type StreamEncoder } from "../../http/event-stream.ts";
import { GENERATE_POLICY } from "./policies.ts";
import { attributionIdSchema, attributionOf, metadataSchema } from "../usage/index.ts";

export const generateBody = z.object({
  model: safeString.min(1, { error: "name a model, e.g. gpt-4o-mini" }),
  messages: z
    .array(z.object({ role: z.enum(["system", "user", "assistant"]), content: safeString }))
    .min(1, { error: "send at least one message" }),
  temperature: z.number().min(0).max(2).optional(),
  max_tokens: z.number().int().positive().optional(),
  top_p: z.number().min(0).max(1).optional(),
  stop: z.union([safeString, z.array(safeString).max(4)]).optional(),
  stream: z.boolean().optional(),
  /** The end user of the calling app (attribution; also sent to the provider, as OpenAI's `user`). */
  user: attributionIdSchema.optional(),
  /** Attribution metadata, stored on the usage event (features/usage/attribution.ts: at most 16 keys, 2 KB). */
  metadata: metadataSchema.optional(),
  /** Models to try in order if the requested one fails or is unavailable. */
  fallbacks: z.array(safeString.min(1)).max(5).optional(),
  /** Deadline for the whole call, retries included. */
  timeout_ms: z.number().int().positive().max(600_000).optional(),
  /** The response cache: true (requests with temperature 0), "force" (any temperature) or false; default: the key's setting. */
  cache: z.union([z.boolean(), z.literal("force")], { error: 'cache must be true, false or "force"' }).optional(),
  /** Seconds a new cache entry lives (1 to RESPONSE_CACHE_MAX_TTL; default RESPONSE_CACHE_TTL). */
  cache_ttl: z.number().int().positive().optional(),
});

/** The original service's body in our terms: its generation parameters (every one named) and how to run the call. */
export function toGenerateInput(body: z.infer<typeof generateBody>): GenerateInput {
  const parameters: EveryGenerationParameter = {
    temperature: body.temperature,
    maxTokens: body.max_tokens,
    topP: body.top_p,
    stop: typeof body.stop === "string" ? [body.stop] : body.stop,
    user: body.user,
    // The original service's body has no tools and no response format.
    tools: undefined,
    toolChoice: undefined,
    parallelToolCalls: undefined,
    thinking: undefined,
    responseFormat: undefined,
  };
  return {
    model: body.model,
    messages: body.messages,
    ...generationParameters(parameters),
    fallbacks: body.fallbacks,
    timeoutMs: body.timeout_ms,
  };
}

/** The original service's response shape (snake_case). */
export function toGenerateResponse(o: GenerateOutcome) {
  return {
    id: o.id,
    model: o.model,
    provider: o.provider,
    response: o.text,
    finish_reason: o.finishReason,
    usage: {
      prompt_tokens: o.usage.inputTokens,
      completion_tokens: o.usage.outputTokens,
      total_tokens: o.usage.inputTokens + o.usage.outputTokens,
      cached_tokens: o.usage.cachedInputTokens,
      reasoning_tokens: o.usage.reasoningTokens,
    },
    cost: { input_cost: usdNumber(o.cost.inputCost), output_cost: usdNumber(o.cost.outputCost), total_cost: usdNumber(o.cost.totalCost) },
    latency_ms: o.latencyMs,
    ...(o.ttftMs !== undefined ? { time_to_first_token_ms: o.ttftMs } : {}),
    ...(o.cache ? { cache: o.cache } : {}),
    ...(o.savedCost !== undefined ? { saved_cost: usdNumber(o.savedCost) } : {}),
  };
}

/** The original service's stream: `data: {"type":"delta","text"}` frames, one `done` frame with the plain response, `[DONE]`. */
const generateStreamEncoder: StreamEncoder<GenerationEvent> = {
  frames: (event) => {
    if (event.type === "done") return [{ data: { type: "done", ...toGenerateResponse(event.outcome) } }];
    // This endpoint passes no tools: only text deltas make frames.
    return event.type === "delta" ? [{ data: { type: "delta", text: event.text } }] : [];
  },
  end: () => [{ data: "[DONE]" }],
  error: (body) => [{ data: { type: "error", ...(body as object) } }],
};

export const llmGenerate = endpoint({
  POST: route({
    ...GENERATE_POLICY,
    doc: {
      summary: "Generate text with any catalogue model, plain or streamed",
      description:
        '`stream: true` answers with server-sent events: `{type: "delta", text}` frames, one `{type: "done", ...}` frame with the plain response, then `[DONE]`.',
      stream: true,
    },
    body: generateBody,
    handler: async ({ body, identity, requestId, log, req }) => {
      const cache = cacheStatusTracker();
      const deployment = deploymentTracker();
      const headers = () => ({ ...cache.headers(), ...deployment.headers() });
      const ctx = {
        identity,
        endpoint: "/v1/llm/generate",
        requestId,
        signal: req.signal,
        onCacheStatus: cache.onStatus,
        onDeployment: deployment.onDeployment,
        attribution: attributionOf({ endUser: body.user, metadata: body.metadata }, req.headers),
      };
      const input = { ...toGenerateInput(body), cache: cacheRequestFrom(req.headers, { cache: body.cache, ttlSeconds: body.cache_ttl }) };
      if (body.stream) {
        return eventStreamResponse(generateStream(input, ctx), generateStreamEncoder, {
          requestId,
          log,
          errorFormat: "default",
          headers,
        });
      }
      return json(toGenerateResponse(await generate(input, ctx)), { headers: headers() });
    },
  }),
});
