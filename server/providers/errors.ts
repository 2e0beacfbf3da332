import "server-only";
// Turning a provider SDK's failure into a ProviderError: the HTTP status decides the kind and
// whether a retry may help, Retry-After decides when, and the message is scrubbed of the key.
// Both SDKs (Stainless-generated) share the shape used here: `status`, `headers`, the parsed body.
import { redactSecrets } from "../kernel/logger.ts";
import { setLastProviderError } from "./last-errors.ts";
import { ProviderError } from "./types.ts";

/** Milliseconds from `retry-after-ms` (OpenAI) or `retry-after` (seconds or an HTTP date). */
export function parseRetryAfter(headers: Headers | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get("retry-after-ms");
  if (ms !== null && ms.trim() !== "") {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return Math.ceil(n);
  }
  const value = headers.get("retry-after");
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? Math.ceil(seconds * 1000) : undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Removes every secret from a message: the given keys verbatim, anything that looks like a key or
 * a bearer token, and the masked keys some providers echo back (OpenAI: "sk-abc*****wxyz").
 */
export function scrubSecrets(message: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = message;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join("[redacted]");
  }
  return redactSecrets(out).replace(/\S*\*{3,}\S*/g, "[redacted]");
}

export type ErrorContext = {
  /** The provider's id: its last error is kept under it (last-errors.ts). */
  providerId: string;
  /** Shown in messages: "OpenAI", "Anthropic", a compatible server's name. */
  providerName: string;
  secrets: ReadonlyArray<string | undefined>;
};

/**
 * Keeps a provider failure as the provider's last error (the Providers page shows it) and hands it
 * back unchanged. Every adapter passes what its `convertError` returns through here: only failures
 * of the provider itself are kept, not "unavailable" (no credentials: the status says so) nor the
 * caller's own abort. The message is scrubbed of the provider's secrets once more.
 */
export function recordFailure<T>(ctx: ErrorContext, error: T): T {
  if (error instanceof ProviderError && error.kind !== "unavailable") {
    setLastProviderError(ctx.providerId, error, scrubSecrets(error.message, ctx.secrets));
  }
  return error;
}

/** The provider's own error text from a parsed error body, whichever of the two shapes it has. */
function upstreamMessage(body: unknown): string | undefined {
  if (!body || typeof body !== "object") return undefined;
  const b = body as { message?: unknown; error?: { message?: unknown } };
  if (typeof b.message === "string") return b.message;
  if (b.error && typeof b.error.message === "string") return b.error.message;
  return undefined;
}

/** Anthropic's spend caps (a 429 `rate_limit_error` whose details or message say so): the month's or the contract's limit. */
function spendCapped(body: unknown, message: string | undefined): boolean {
  const details = (body as { error?: { details?: { error_code?: unknown } } } | undefined)?.error?.details;
  const code = typeof details?.error_code === "string" ? details.error_code : "";
  return /^(enforced|contract)_spend_limit_reached$/.test(code) || /\bspend limit\b/i.test(message ?? "");
}

/** A ProviderError for an HTTP error answer (or an error event inside a stream when `status` is undefined); kept as the provider's last error. */
export function fromHttpError(ctx: ErrorContext, status: number | undefined, body: unknown, headers: Headers | undefined): ProviderError {
  return recordFailure(ctx, httpError(ctx, status, body, headers));
}

function httpError(ctx: ErrorContext, status: number | undefined, body: unknown, headers: Headers | undefined): ProviderError {
  const upstream = upstreamMessage(body);
  const detail = (fallback: string) => scrubSecrets(`${ctx.providerName} ${status ?? "stream"}: ${upstream ?? fallback}`, ctx.secrets);
  const code = body && typeof body === "object" ? (body as { code?: unknown; type?: unknown }) : {};
  if (status === undefined) {
    // An error event inside a started stream (Anthropic "overloaded_error", OpenAI {"error":...}).
    return new ProviderError(detail("error event in the stream"), "server", undefined, true);
  }
  if (status === 401 || status === 403) {
    // Never the provider's text: OpenAI echoes a masked key in it.
    const what = status === 401 ? "rejected the API key" : "refused access with this API key";
    return new ProviderError(`${ctx.providerName} ${what} (${status})`, "auth", status, false);
  }
  if (status === 429) {
    // OpenAI answers 429 also for an exhausted quota, and Anthropic for a spend cap: no retry fixes those.
    const quota = code.code === "insufficient_quota" || code.type === "insufficient_quota" || spendCapped(body, upstream);
    return new ProviderError(detail("rate limited"), "rate_limited", status, !quota, quota ? undefined : parseRetryAfter(headers));
  }
  if (status === 404) return new ProviderError(detail("not found"), "not_found", status, false);
  if (status === 408) return new ProviderError(detail("request timeout"), "timeout", status, true, parseRetryAfter(headers));
  // 409: OpenAI's lock timeout, which the SDKs themselves would retry.
  if (status === 409) return new ProviderError(detail("conflict"), "server", status, true, parseRetryAfter(headers));
  if (status >= 500) {
    const retryable = status !== 501;
    return new ProviderError(detail("server error"), "server", status, retryable, retryable ? parseRetryAfter(headers) : undefined);
  }
  return new ProviderError(detail("invalid request"), "invalid_request", status, false);
}

const TIMEOUT_CODES = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "ETIMEDOUT"]);

function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let e: unknown = error;
  while (e && typeof e === "object" && chain.length < 6) {
    chain.push(e);
    e = (e as { cause?: unknown }).cause;
  }
  return chain;
}

/** A network failure (refused, reset, cut mid-body, undici timeout) as a retryable ProviderError; kept as the provider's last error. */
export function fromConnectionError(ctx: ErrorContext, error: unknown, sdkSaysTimeout = false): ProviderError {
  const chain = causes(error);
  const timedOut = sdkSaysTimeout || chain.some((c) => TIMEOUT_CODES.has(String((c as { code?: unknown }).code ?? "")));
  const innermost = chain[chain.length - 1] as { message?: unknown; code?: unknown } | undefined;
  const why =
    typeof innermost?.message === "string" && innermost.message
      ? innermost.message
      : innermost?.code
        ? String(innermost.code)
        : "no detail";
  return recordFailure(
    ctx,
    timedOut
      ? new ProviderError(scrubSecrets(`${ctx.providerName} timed out (${why})`, ctx.secrets), "timeout", undefined, true)
      : new ProviderError(scrubSecrets(`${ctx.providerName} connection failed (${why})`, ctx.secrets), "connection", undefined, true),
  );
}

/** True for errors raised while reading a response body whose connection broke (undici: "terminated"). */
export function isBrokenBody(error: unknown): boolean {
  return causes(error).some((c) => {
    const e = c as { name?: unknown; message?: unknown; code?: unknown };
    return (
      (e.name === "TypeError" && e.message === "terminated") ||
      (typeof e.code === "string" && (e.code.startsWith("UND_ERR_") || e.code === "ECONNRESET" || e.code === "EPIPE"))
    );
  });
}

/**
 * What to throw when the caller's signal aborted the call: a timeout signal
 * (`AbortSignal.timeout`) becomes a retryable "timeout" ProviderError; any other abort rethrows the
 * caller's own reason, so the caller recognises the abort it asked for.
 */
export function abortError(ctx: ErrorContext, signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  if (reason instanceof DOMException && reason.name === "TimeoutError") {
    return recordFailure(ctx, new ProviderError(`${ctx.providerName} did not answer in time`, "timeout", undefined, true));
  }
  return reason ?? new DOMException("This operation was aborted", "AbortError");
}

export function malformedResponse(ctx: ErrorContext): ProviderError {
  return recordFailure(ctx, new ProviderError(`${ctx.providerName} returned a malformed response`, "server", undefined, true));
}

export function unavailable(reason: string): ProviderError {
  return new ProviderError(reason, "unavailable", undefined, false);
}
