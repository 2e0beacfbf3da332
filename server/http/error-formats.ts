import "server-only";
// How an error looks on the wire, per endpoint family. Ours: {"error": {"code", "message", "details"}}.
// The OpenAI-compatible endpoints answer as OpenAI does, {"error": {"message", "type", "param", "code"}},
// and /v1/messages as Anthropic does, {"type": "error", "error": {"type", "message"}}, so that each
// SDK raises its usual error classes (NotFoundError, AuthenticationError, RateLimitError...). The
// HTTP status and headers (Retry-After, X-RateLimit-*) stay ours: one AppError code, one status.
import type { AppError, ErrorCode } from "../kernel/errors.ts";

export type ErrorFormat = "default" | "openai" | "anthropic";

type Mapping = {
  /** OpenAI's `type` and `code` (null where OpenAI sends none). */
  openai: { type: string; code: string | null };
  /** Anthropic's error `type`. */
  anthropic: string;
};

/** Our error codes in OpenAI's and Anthropic's terms: the one place this mapping is written. */
const MAPPING: Record<ErrorCode, Mapping> = {
  invalid_request: { openai: { type: "invalid_request_error", code: null }, anthropic: "invalid_request_error" },
  unauthorized: { openai: { type: "invalid_request_error", code: "invalid_api_key" }, anthropic: "authentication_error" },
  budget_exceeded: { openai: { type: "insufficient_quota", code: "insufficient_quota" }, anthropic: "billing_error" },
  forbidden: { openai: { type: "invalid_request_error", code: "insufficient_permissions" }, anthropic: "permission_error" },
  model_disabled: { openai: { type: "invalid_request_error", code: "model_disabled" }, anthropic: "permission_error" },
  not_found: { openai: { type: "invalid_request_error", code: "not_found" }, anthropic: "not_found_error" },
  method_not_allowed: { openai: { type: "invalid_request_error", code: "method_not_allowed" }, anthropic: "invalid_request_error" },
  conflict: { openai: { type: "invalid_request_error", code: "conflict" }, anthropic: "invalid_request_error" },
  payload_too_large: { openai: { type: "invalid_request_error", code: "request_too_large" }, anthropic: "request_too_large" },
  unsupported_media_type: { openai: { type: "invalid_request_error", code: "unsupported_media_type" }, anthropic: "invalid_request_error" },
  rate_limited: { openai: { type: "requests", code: "rate_limit_exceeded" }, anthropic: "rate_limit_error" },
  internal_error: { openai: { type: "server_error", code: null }, anthropic: "api_error" },
  provider_error: { openai: { type: "server_error", code: "provider_error" }, anthropic: "api_error" },
  unavailable: { openai: { type: "server_error", code: "service_unavailable" }, anthropic: "api_error" },
  timeout: { openai: { type: "server_error", code: "timeout" }, anthropic: "timeout_error" },
};

/** The field a 400 is about (our zod issues name it), or "model" for an unknown model. */
function paramOf(error: AppError): string | null {
  const details = error.details as { issues?: { field?: unknown }[]; model?: unknown } | undefined;
  const field = details?.issues?.[0]?.field;
  if (typeof field === "string" && field !== "(root)") return field;
  if (error.code === "not_found" && typeof details?.model === "string") return "model";
  return null;
}

/** OpenAI's error object. An unknown model is `model_not_found`, as OpenAI says it. */
export function openaiErrorBody(error: AppError): { error: { message: string; type: string; param: string | null; code: string | null } } {
  const { type, code } = MAPPING[error.code].openai;
  const param = paramOf(error);
  return {
    error: {
      message: error.message,
      type,
      param,
      code: error.code === "not_found" && param === "model" ? "model_not_found" : code,
    },
  };
}

export function anthropicErrorBody(
  error: AppError,
  requestId: string,
): { type: "error"; error: { type: string; message: string }; request_id: string } {
  return { type: "error", error: { type: MAPPING[error.code].anthropic, message: error.message }, request_id: requestId };
}

/** Ours, as every other REST endpoint answers. */
export function defaultErrorBody(error: AppError): { error: { code: string; message: string; details?: unknown } } {
  const body: { error: { code: string; message: string; details?: unknown } } = { error: { code: error.code, message: error.message } };
  if (error.details !== undefined) body.error.details = error.details;
  return body;
}

/**
 * The error shape a path's callers expect when no endpoint serves it: Anthropic's under
 * /v1/messages and /v1/complete (the Anthropic SDK's paths), ours under /v1/llm, /v1/vector,
 * /v1/auth and /api, OpenAI's for the rest of /v1 (what the OpenAI SDK calls: /v1/completions,
 * /v1/responses, /v1/images...), so that each SDK raises its own NotFoundError.
 */
export function errorFormatForPath(pathname: string): ErrorFormat {
  if (/^\/v1\/(messages|complete)(\/|$)/.test(pathname)) return "anthropic";
  if (/^\/v1\/(llm|vector|auth)(\/|$)/.test(pathname) || !pathname.startsWith("/v1/")) return "default";
  return "openai";
}

export function errorBody(format: ErrorFormat, error: AppError, requestId: string): unknown {
  if (format === "openai") return openaiErrorBody(error);
  if (format === "anthropic") return anthropicErrorBody(error, requestId);
  return defaultErrorBody(error);
}

/**
 * Extra headers for the SDKs' own retry logic. Both SDKs retry 5xx twice by default; a 502 or 504
 * here comes after this service already retried and fell back, so `x-should-retry: false` spares
 * the provider a second round. A 503 with Retry-After (a provider's rate limit) may be retried.
 */
export function sdkRetryHeaders(format: ErrorFormat, error: AppError): Record<string, string> {
  if (format === "default") return {};
  const retryLater = error.code === "unavailable" && error.headers?.["Retry-After"] !== undefined;
  if (error.status >= 500 && !retryLater) return { "x-should-retry": "false" };
  return {};
}
