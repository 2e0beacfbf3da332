import "server-only";
// Each recorded call as OpenTelemetry spans, after the OpenTelemetry GenAI semantic conventions:
// one client span per call (`chat gpt-4o`, `embeddings text-embedding-3-small`) with the operation,
// provider, request and response model, token usage, finish reasons and the cost, and one child
// span per provider call when the call took several (retries, other deployments, fallbacks). The
// caller's W3C `traceparent` (attribution.ts) is continued. Built from what `recordCall` has, so
// every endpoint's calls are traced alike; made only when tracing is on (kernel/telemetry.ts).
// Prompts and answers are put on a span only where the call's bodies are logged, redacted as stored.
import { SpanKind, SpanStatusCode, trace, type Attributes, type Context } from "@opentelemetry/api";
import { getLogger } from "../../kernel/logger.ts";
import { contextOf, tracer } from "../../kernel/telemetry.ts";
import { providerType, type ProviderType } from "../../providers/registry.ts";
import { ZERO_USAGE } from "../../providers/types.ts";
import { usdNumber, type Cost } from "../catalogue/index.ts";
import { redactBody } from "./request-bodies.ts";
import type { AttemptLog, CallRecord } from "./usage.ts";

/** The conventions' well-known `gen_ai.provider.name` of each provider type. */
const PROVIDER_NAMES: Partial<Record<ProviderType, string>> = {
  openai: "openai",
  anthropic: "anthropic",
  "azure-openai": "azure.ai.openai",
  bedrock: "aws.bedrock",
  gemini: "gcp.gemini",
  vertex: "gcp.vertex_ai",
};

/** `gen_ai.provider.name` of a provider id: the type's well-known name, else the id itself. */
export function genAiProviderName(providerId: string): string {
  const type = providerType(providerId);
  return (type && PROVIDER_NAMES[type]) ?? providerId;
}

export function emitCallSpans(call: CallRecord, event: Cost & { createdAt: Date }): void {
  const t = tracer();
  if (!t) return;
  try {
    const operation = call.kind === "embedding" ? "embeddings" : "chat";
    const end = event.createdAt.getTime();
    const start = end - call.latencyMs;
    const usage = call.usage ?? ZERO_USAGE;
    const failed = call.status === "error";
    const attributes: Attributes = {
      "gen_ai.operation.name": operation,
      "gen_ai.provider.name": genAiProviderName(call.provider),
      "gen_ai.request.model": call.modelId,
      "gen_ai.usage.input_tokens": usage.inputTokens,
      "gen_ai.usage.output_tokens": usage.outputTokens,
      "model_service.usage.cached_input_tokens": usage.cachedInputTokens,
      "model_service.usage.reasoning_tokens": usage.reasoningTokens,
      "model_service.cost_usd": usdNumber(event.totalCost),
      "model_service.endpoint": call.endpoint,
      "model_service.status": call.status,
      "model_service.stream": call.stream,
    };
    if (call.responseModel) attributes["gen_ai.response.model"] = call.responseModel;
    if (call.finishReason) attributes["gen_ai.response.finish_reasons"] = [call.finishReason];
    if (call.deployment) attributes["model_service.deployment"] = call.deployment;
    if (call.attempts != null) attributes["model_service.attempts"] = call.attempts;
    if (call.requestId) attributes["model_service.request_id"] = call.requestId;
    if (call.ttftMs != null) attributes["model_service.time_to_first_token_ms"] = Math.round(call.ttftMs);
    if (failed) attributes["error.type"] = call.errorCode ?? "error";
    // The prompt and the answer only where the call's bodies are logged (request-bodies.ts), redacted as stored.
    if (call.body) {
      attributes["gen_ai.input.messages"] = redactBody(JSON.stringify(call.body.request ?? null));
      attributes["gen_ai.output.messages"] = redactBody(JSON.stringify(call.body.response ?? null));
    }
    const caller = contextOf(call.attribution?.traceparent);
    const span = t.startSpan(`${operation} ${call.modelId}`, { kind: SpanKind.CLIENT, startTime: start, attributes }, caller);
    if (failed) span.setStatus({ code: SpanStatusCode.ERROR, message: call.errorCode ?? "error" });
    const log = call.attemptLog ?? [];
    if (log.length > 1) {
      const inner = trace.setSpan(caller, span);
      log.forEach((a, i) => attemptSpan(a, i, log.length, end, operation, inner));
    }
    span.end(end);
  } catch (err) {
    // Tracing must never fail a call whose usage is already recorded.
    getLogger().warn({ err }, "could not make the trace spans of a call");
  }
}

function attemptSpan(a: AttemptLog, index: number, count: number, callEnd: number, operation: string, parent: Context): void {
  const t = tracer()!;
  const last = index === count - 1;
  const attributes: Attributes = {
    "gen_ai.operation.name": operation,
    "gen_ai.provider.name": genAiProviderName(a.provider),
    "gen_ai.request.model": a.providerModel,
    "model_service.deployment": a.deployment,
    "model_service.attempt": index + 1,
  };
  if (a.error) attributes["error.type"] = a.error;
  if (a.next) attributes["model_service.next"] = a.next === "move" ? "other_deployment" : a.next;
  const span = t.startSpan(`${operation} ${a.providerModel}`, { kind: SpanKind.CLIENT, startTime: a.startedAt, attributes }, parent);
  if (a.error) span.setStatus({ code: SpanStatusCode.ERROR, message: a.error });
  span.end(a.durationMs !== undefined ? a.startedAt + a.durationMs : last ? callEnd : a.startedAt);
}
