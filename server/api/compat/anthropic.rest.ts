import "server-only";
// The Anthropic-compatible API: POST /v1/messages for Anthropic SDK users, answered by any model
// of the catalogue through the generation service (usage, cost, limits, retries and fallbacks as
// for /v1/llm/generate), with Anthropic's JSON, event stream and error shape. The key may come as
// `x-api-key` (what Anthropic's API reads) or `Authorization: Bearer`.
import { deploymentTracker, generate, generateStream } from "../../features/inference/index.ts";
import { messageEventEncoder, messagesBody, messagesInput, newMessageId, toMessage, type MessagesBody } from "./anthropic-messages.ts";
import { resolveModel } from "../../features/catalogue/index.ts";
import { AppError } from "../../kernel/errors.ts";
import { eventStreamResponse } from "../../http/event-stream.ts";
import { cacheRequestFrom, cacheStatusTracker } from "../../web/cache-directives.ts";
import { endpoint, json, route } from "../../http/endpoint.ts";
import { GENERATE_POLICY } from "../../features/inference/index.ts";
import { attributionOf } from "../../features/usage/index.ts";

export const anthropicMessages = endpoint(
  {
    POST: route({
      ...GENERATE_POLICY,
      doc: {
        summary: "Anthropic-compatible Messages API (any catalogue model), plain or streamed",
        description:
          "Anthropic's request and response shapes; `stream: true` answers with Anthropic's server-sent events. Errors use Anthropic's error shape.",
        stream: true,
      },
      body: messagesBody,
      handler: async ({ body, identity, requestId, log, req }) => {
        const cache = cacheStatusTracker();
        const deployment = deploymentTracker();
        const headers = () => ({ ...cache.headers(), ...deployment.headers() });
        const ctx = {
          identity,
          endpoint: "/v1/messages",
          requestId,
          signal: req.signal,
          onCacheStatus: cache.onStatus,
          onDeployment: deployment.onDeployment,
          attribution: attributionOf({ endUser: body.metadata?.user_id ?? undefined }, req.headers),
        };
        refuseThinkingElsewhere(body);
        const input = { ...messagesInput(body), cache: cacheRequestFrom(req.headers) };
        if (!body.stream) return json(toMessage(await generate(input, ctx)), { headers: headers() });
        const encoder = messageEventEncoder({ id: newMessageId(), model: body.model });
        return eventStreamResponse(generateStream(input, ctx), encoder, {
          requestId,
          log,
          errorFormat: "anthropic",
          headers,
        });
      },
    }),
  },
  { errorFormat: "anthropic" },
);

/** Extended thinking is Anthropic's: for a model another provider serves, a 400 naming `thinking` and the provider. */
function refuseThinkingElsewhere(body: MessagesBody): void {
  if (body.thinking?.type !== "enabled") return;
  let provider: string;
  try {
    provider = resolveModel(body.model).provider;
  } catch {
    return; // an unknown model: the generation answers that
  }
  if (provider === "anthropic") return;
  throw new AppError("invalid_request", `thinking: not supported by ${provider} (${body.model}); only Anthropic models take it`, {
    field: "thinking",
  });
}
