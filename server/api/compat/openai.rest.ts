import "server-only";
// The OpenAI-compatible API: POST /v1/chat/completions, POST /v1/embeddings, GET /v1/models and
// GET /v1/models/{id}, over the same services as /v1/llm/* (usage, cost, limits, retries and
// fallbacks alike), with OpenAI's JSON, SSE framing and error shape. The protocol mapping is in
// ../compat/; these handlers only wire it to the services.
import { deploymentTracker, generate, generateStream, passthroughServes } from "../../features/inference/index.ts";
import { generateEmbeddings } from "../../features/inference/index.ts";
import { catalogueReady, resolveModel } from "../../features/catalogue/index.ts";
import {
  chatChunkEncoder,
  chatCompletionBody,
  chatCompletionInput,
  chatCompletionWireBody,
  newCompletionId,
  openAIOnlyParameter,
  toChatCompletion,
  toWireChatCompletion,
  wireChatInput,
} from "./openai-chat.ts";
import { AppError, fromZodError } from "../../kernel/errors.ts";
import { embeddingsBody, toEmbeddingsResponse } from "./openai-embeddings.ts";
import { openaiModel, openaiModelList } from "./openai-models.ts";
import { eventStreamResponse } from "../../http/event-stream.ts";
import { cacheRequestFrom, cacheStatusTracker, embeddingCacheFrom } from "../../web/cache-directives.ts";
import { endpoint, json, route } from "../../http/endpoint.ts";
import { BufferedResponse } from "../../web/buffered-response.ts";
import { EMBED_POLICY, GENERATE_POLICY } from "../../features/inference/index.ts";
import { attributionOf } from "../../features/usage/index.ts";

const openai = { errorFormat: "openai" } as const;

export const chatCompletions = endpoint(
  {
    POST: route({
      ...GENERATE_POLICY,
      doc: {
        summary: "OpenAI-compatible chat completions (any catalogue model), plain or streamed",
        description:
          "OpenAI's request and response shapes; `stream: true` answers with OpenAI's SSE chunks and `data: [DONE]`. Errors use OpenAI's error shape. Served by an OpenAI or OpenAI-compatible provider, the body is passed through: fields the service does not read go to the provider as sent.",
        stream: true,
        body: chatCompletionBody,
      },
      // Only what the service reads is checked here; the whole body when it is not passed through (below).
      body: chatCompletionWireBody,
      handler: async ({ body, identity, requestId, log, req }) => {
        const cache = cacheStatusTracker();
        const deployment = deploymentTracker();
        const headers = () => ({ ...cache.headers(), ...deployment.headers() });
        const ctx = {
          identity,
          endpoint: "/v1/chat/completions",
          requestId,
          signal: req.signal,
          onCacheStatus: cache.onStatus,
          onDeployment: deployment.onDeployment,
          attribution: attributionOf({ endUser: body.user ?? undefined, metadata: body.metadata ?? undefined }, req.headers),
        };
        const cacheRequest = cacheRequestFrom(req.headers);
        const input = passthroughServes(body.model, identity)
          ? { ...wireChatInput(body), cache: cacheRequest }
          : { ...chatCompletionInput(parsedWhole(body)), cache: cacheRequest };
        const created = Math.floor(Date.now() / 1000);
        if (!body.stream) {
          const outcome = await generate(input, ctx);
          if (outcome.wire?.body !== undefined) {
            return new BufferedResponse(toWireChatCompletion(outcome.wire.body, outcome), {
              headers: { "Content-Type": "application/json; charset=utf-8", ...headers() },
            });
          }
          return json(toChatCompletion(outcome, created), { headers: headers() });
        }
        const encoder = chatChunkEncoder({
          id: newCompletionId(),
          created,
          model: body.model,
          includeUsage: body.stream_options?.include_usage === true,
        });
        return eventStreamResponse(generateStream(input, ctx), encoder, { requestId, log, errorFormat: "openai", headers });
      },
    }),
  },
  openai,
);

/**
 * The body checked whole (the SDK path): a 400 naming the field, as the endpoint's own parse gives,
 * and a 400 naming an OpenAI-only parameter and the provider that cannot honour it.
 */
function parsedWhole(body: unknown) {
  const result = chatCompletionBody.safeParse(body);
  if (!result.success) throw fromZodError(result.error, "request body");
  const param = openAIOnlyParameter(result.data);
  if (param !== undefined) {
    const served = modelProviderOf(result.data.model);
    const where = served
      ? served.provider === "openai"
        ? `the OpenAI SDK path (OPENAI_PASSTHROUGH=off, or a fallback served by another provider) of ${served.model}`
        : `${served.provider} (${served.model})`
      : result.data.model;
    throw new AppError(
      "invalid_request",
      `${param}: not supported by ${where}; it passes only to OpenAI models served through the passthrough (README: OpenAI-compatible API)`,
      { field: param },
    );
  }
  return result.data;
}

/** The catalogue model and its provider, or undefined for a name the catalogue does not know (the generation answers that). */
function modelProviderOf(name: string): { model: string; provider: string } | undefined {
  try {
    const m = resolveModel(name);
    return { model: m.id, provider: m.provider };
  } catch {
    return undefined;
  }
}

export const embeddings = endpoint(
  {
    POST: route({
      ...EMBED_POLICY,
      doc: { summary: "OpenAI-compatible embeddings (float or base64)" },
      body: embeddingsBody,
      handler: async ({ body, identity, requestId, req }) => {
        const out = await generateEmbeddings(
          identity,
          {
            model: body.model,
            texts: typeof body.input === "string" ? [body.input] : body.input,
            dimensions: body.dimensions ?? undefined,
            user: body.user ?? undefined,
            cache: embeddingCacheFrom(req.headers),
          },
          {
            endpoint: "/v1/embeddings",
            requestId,
            signal: req.signal,
            attribution: attributionOf({ endUser: body.user ?? undefined, metadata: body.metadata ?? undefined }, req.headers),
          },
        );
        return toEmbeddingsResponse(out, body.encoding_format ?? "float");
      },
    }),
  },
  openai,
);

export const openaiModels = endpoint(
  {
    GET: route({
      access: "user",
      doc: { summary: "The usable models, as OpenAI lists them" },
      handler: async ({ identity }) => {
        await catalogueReady();
        return openaiModelList(identity);
      },
    }),
  },
  openai,
);

/**
 * One model. Ids are one path segment: an id with a slash (some compatible servers' models, e.g.
 * meta-llama/Llama-3.1-8B) is sent as %2F, which the OpenAI SDK does by itself.
 */
export const openaiModelById = endpoint(
  {
    GET: route({
      access: "user",
      doc: { summary: "One usable model by id or alias, as OpenAI shows it" },
      handler: async ({ params, identity }) => {
        await catalogueReady();
        const raw = params.id ?? "";
        // Next may hand over the segment still percent-encoded; model ids never contain "%" themselves.
        return openaiModel(raw.includes("%") ? decodeURIComponentSafe(raw) : raw, identity);
      },
    }),
  },
  openai,
);

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
