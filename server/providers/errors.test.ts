import { describe, expect, it } from "vitest";
import { abortError, fromHttpError, parseRetryAfter, recordFailure, scrubSecrets } from "./errors.ts";
import { lastProviderError, resetLastProviderErrorsForTests } from "./last-errors.ts";
import { ProviderError } from "./types.ts";

const ctx = { providerId: "openai", providerName: "OpenAI", secrets: ["sk-live-abcdefghijklmnop"] };

describe("parseRetryAfter", () => {
  it("reads seconds, fractional seconds, an HTTP date, and prefers retry-after-ms", () => {
    expect(parseRetryAfter(new Headers({ "retry-after": "3" }))).toBe(3000);
    expect(parseRetryAfter(new Headers({ "retry-after": "0.25" }))).toBe(250);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter(new Headers({ "retry-after": "Thu, 01 Jan 2026 00:00:05 GMT" }), now)).toBe(5000);
    expect(parseRetryAfter(new Headers({ "retry-after": "2", "retry-after-ms": "1500.5" }))).toBe(1501);
    expect(parseRetryAfter(new Headers({ "retry-after": "soon" }))).toBeUndefined();
    expect(parseRetryAfter(new Headers())).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe("scrubSecrets", () => {
  it("removes the key verbatim, key-like tokens and masked keys", () => {
    const out = scrubSecrets(
      "key sk-live-abcdefghijklmnop, other sk-ant-api03-zzzzzzzzzzzz, masked sk-live-****mnop, Bearer abcdefghijkl",
      ctx.secrets,
    );
    expect(out).not.toContain("abcdefghijklmnop");
    expect(out).not.toContain("zzzzzzzzzzzz");
    expect(out).not.toContain("mnop");
    expect(out).not.toContain("abcdefghijkl");
  });
});

describe("fromHttpError", () => {
  it("maps statuses to kinds and retryability", () => {
    const h = new Headers({ "retry-after": "4" });
    expect(fromHttpError(ctx, 400, { message: "bad" }, h)).toMatchObject({ kind: "invalid_request", retryable: false });
    expect(fromHttpError(ctx, 401, { message: "Incorrect API key provided: sk-live-abcdefghijklmnop" }, h)).toMatchObject({
      kind: "auth",
      message: "OpenAI rejected the API key (401)",
    });
    expect(fromHttpError(ctx, 403, {}, h)).toMatchObject({ kind: "auth", retryable: false });
    expect(fromHttpError(ctx, 404, {}, h)).toMatchObject({ kind: "not_found", retryable: false });
    expect(fromHttpError(ctx, 408, {}, h)).toMatchObject({ kind: "timeout", retryable: true });
    expect(fromHttpError(ctx, 409, {}, h)).toMatchObject({ kind: "server", retryable: true });
    expect(fromHttpError(ctx, 422, {}, h)).toMatchObject({ kind: "invalid_request", retryable: false });
    expect(fromHttpError(ctx, 429, {}, h)).toMatchObject({ kind: "rate_limited", retryable: true, retryAfterMs: 4000 });
    expect(fromHttpError(ctx, 429, { code: "insufficient_quota" }, h)).toMatchObject({
      kind: "rate_limited",
      retryable: false,
      retryAfterMs: undefined,
    });
    expect(fromHttpError(ctx, 500, {}, h)).toMatchObject({ kind: "server", retryable: true, retryAfterMs: 4000 });
    expect(fromHttpError(ctx, 501, {}, h)).toMatchObject({ kind: "server", retryable: false });
    expect(fromHttpError(ctx, 529, {}, h)).toMatchObject({ kind: "server", retryable: true });
  });

  it("scrubs the key from a provider's message it passes on", () => {
    const err = fromHttpError(ctx, 400, { message: "your key sk-live-abcdefghijklmnop is not allowed here" }, undefined);
    expect(err.message).not.toContain("sk-live-abcdefghijklmnop");
    expect(err.message).toContain("is not allowed here");
  });
});

describe("abortError", () => {
  it("turns a timeout signal into a timeout ProviderError and gives back any other reason", () => {
    const timedOut = new AbortController();
    timedOut.abort(new DOMException("The operation timed out.", "TimeoutError"));
    expect(abortError(ctx, timedOut.signal)).toBeInstanceOf(ProviderError);
    expect(abortError(ctx, timedOut.signal)).toMatchObject({ kind: "timeout", retryable: true });
    const left = new AbortController();
    const reason = new Error("client left");
    left.abort(reason);
    expect(abortError(ctx, left.signal)).toBe(reason);
  });
});

describe("recordFailure (the providers' last errors)", () => {
  it("keeps a provider failure under the provider's id with its kind, status and time, and never the key", () => {
    resetLastProviderErrorsForTests();
    // A message that holds the key verbatim (a provider echoing it back) and a masked form of it.
    const echoed = new ProviderError("upstream said: bad key sk-live-abcdefghijklmnop (sk-live-****mnop)", "invalid_request", 400, false);
    const before = Date.now();
    expect(recordFailure(ctx, echoed)).toBe(echoed);
    const last = lastProviderError("openai")!;
    expect(last).toMatchObject({ kind: "invalid_request", status: 400 });
    expect(last.at.getTime()).toBeGreaterThanOrEqual(before);
    expect(last.message).toContain("upstream said: bad key");
    expect(last.message).not.toContain("abcdefghijklmnop");
    expect(last.message).not.toContain("mnop");
    // Each factory of this module records too.
    fromHttpError({ ...ctx, providerId: "other" }, 503, { error: { message: "down" } }, undefined);
    expect(lastProviderError("other")).toMatchObject({ kind: "server", status: 503, message: "OpenAI 503: down" });
  });

  it("leaves out what is not a failure of the provider: no credentials, the caller's own abort", () => {
    resetLastProviderErrorsForTests();
    recordFailure(ctx, new ProviderError("OPENAI_API_KEY is not set", "unavailable", undefined, false));
    recordFailure(ctx, new DOMException("This operation was aborted", "AbortError"));
    expect(lastProviderError("openai")).toBeUndefined();
  });
});
