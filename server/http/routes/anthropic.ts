import "server-only";
// The Anthropic-compatible API: POST /v1/messages for Anthropic SDK users, answered by any model
// of the catalogue through the generation service (usage, cost, limits, retries and fallbacks as
// for /v1/llm/generate), with Anthropic's JSON, event stream and error shape. The key may come as
// `x-api-key` (what Anthropic's API reads) or `Authorization: Bearer`.
import { generate, generateStream } from "../../services/generation.ts";
import { messageEventEncoder, messagesBody, messagesInput, newMessageId, toMessage } from "../compat/anthropic-messages.ts";
import { eventStreamResponse } from "../event-stream.ts";
import { endpoint, route } from "../endpoint.ts";

export const anthropicMessages = endpoint(
  {
    POST: route({
      access: "user",
      scope: "generate",
      rateLimit: "generate",
      body: messagesBody,
      handler: async ({ body, identity, requestId, log, req }) => {
        const ctx = { identity, endpoint: "/v1/messages", requestId, signal: req.signal };
        const input = messagesInput(body);
        if (!body.stream) return toMessage(await generate(input, ctx));
        const encoder = messageEventEncoder({ id: newMessageId(), model: body.model });
        return eventStreamResponse(generateStream(input, ctx), encoder, { requestId, log, errorFormat: "anthropic" });
      },
    }),
  },
  { errorFormat: "anthropic" },
);
