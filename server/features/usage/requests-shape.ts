// A call of the requests list as REST spells it (GET /v1/llm/requests, its export's JSON lines):
// snake_case, costs as JSON numbers of the exact decimals.
import { usdNumber } from "../catalogue/index.ts";
import type { RecentRequest } from "./usage-recent.ts";

/** One call as REST spells it (snake_case; costs as JSON numbers of the exact decimals). */
export function restRequest(r: RecentRequest) {
  return {
    id: r.id,
    created_at: r.createdAt.toISOString(),
    request_id: r.requestId,
    endpoint: r.endpoint,
    model: r.model,
    provider: r.provider,
    deployment: r.deployment,
    attempts: r.attempts,
    api_key_id: r.apiKeyId,
    api_key: r.apiKey,
    user_id: r.userId,
    user: r.user,
    status: r.status,
    error_code: r.errorCode,
    stream: r.stream,
    input_tokens: r.inputTokens,
    output_tokens: r.outputTokens,
    cached_input_tokens: r.cachedInputTokens,
    reasoning_tokens: r.reasoningTokens,
    cost: usdNumber(r.cost),
    latency_ms: r.latencyMs,
    ttft_ms: r.ttftMs,
    tags: r.tags,
    end_user: r.endUser,
    session_id: r.session,
  };
}
