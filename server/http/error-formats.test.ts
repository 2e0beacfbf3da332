// The one mapping of our error codes to OpenAI's and Anthropic's error shapes, and the wrapper's
// use of it: same status and headers, the body in the endpoint's format.
import pino from "pino";
import { describe, expect, it } from "vitest";
import { AppError, ERROR_STATUS, fromZodError, type ErrorCode } from "../kernel/errors.ts";
import { z } from "zod";
import { errorResponse } from "./endpoint.ts";
import { anthropicErrorBody, openaiErrorBody, sdkRetryHeaders } from "./error-formats.ts";

const log = pino({ level: "silent" });

describe("error formats", () => {
  it("maps every code to an OpenAI type and an Anthropic type", () => {
    for (const code of Object.keys(ERROR_STATUS) as ErrorCode[]) {
      const e = new AppError(code, "m");
      expect(openaiErrorBody(e).error.type).toMatch(/^[a-z_]+$/);
      expect(anthropicErrorBody(e, "r").error.type).toMatch(/_error$|^request_too_large$/);
    }
  });

  it("names the field of a 400 as OpenAI's param, and an unknown model as model_not_found", () => {
    const zodError = z.object({ messages: z.array(z.object({ role: z.enum(["user"]) })) }).safeParse({ messages: [{ role: "x" }] }).error!;
    expect(openaiErrorBody(fromZodError(zodError, "request body")).error).toMatchObject({
      type: "invalid_request_error",
      param: "messages[0].role",
      code: null,
    });
    const unknown = new AppError("not_found", 'Unknown model "x"', { model: "x", suggestions: [] });
    expect(openaiErrorBody(unknown)).toEqual({
      error: { message: 'Unknown model "x"', type: "invalid_request_error", param: "model", code: "model_not_found" },
    });
    expect(openaiErrorBody(new AppError("not_found", "no such collection")).error).toMatchObject({ param: null, code: "not_found" });
  });

  it("speaks each API's words for auth, limits, budgets and timeouts", () => {
    expect(openaiErrorBody(new AppError("unauthorized", "m")).error.code).toBe("invalid_api_key");
    expect(openaiErrorBody(new AppError("rate_limited", "m")).error).toMatchObject({ type: "requests", code: "rate_limit_exceeded" });
    expect(openaiErrorBody(new AppError("budget_exceeded", "m")).error).toMatchObject({
      type: "insufficient_quota",
      code: "insufficient_quota",
    });
    expect(anthropicErrorBody(new AppError("unauthorized", "m"), "r").error.type).toBe("authentication_error");
    expect(anthropicErrorBody(new AppError("rate_limited", "m"), "r").error.type).toBe("rate_limit_error");
    expect(anthropicErrorBody(new AppError("budget_exceeded", "m"), "r").error.type).toBe("billing_error");
    expect(anthropicErrorBody(new AppError("timeout", "m"), "r")).toEqual({
      type: "error",
      error: { type: "timeout_error", message: "m" },
      request_id: "r",
    });
  });

  it("tells SDKs not to retry a failure the service already retried, unless the provider said when", () => {
    expect(sdkRetryHeaders("openai", new AppError("provider_error", "m"))).toEqual({ "x-should-retry": "false" });
    expect(sdkRetryHeaders("anthropic", new AppError("timeout", "m"))).toEqual({ "x-should-retry": "false" });
    expect(sdkRetryHeaders("openai", new AppError("unavailable", "m", undefined, { "Retry-After": "3" }))).toEqual({});
    expect(sdkRetryHeaders("openai", new AppError("rate_limited", "m"))).toEqual({});
    expect(sdkRetryHeaders("default", new AppError("provider_error", "m"))).toEqual({});
  });

  it("keeps status and headers, and renders the body in the asked format", async () => {
    const limited = new AppError("rate_limited", "slow down", undefined, { "Retry-After": "7", "X-RateLimit-Limit": "2" });
    for (const [format, body] of [
      ["default", { error: { code: "rate_limited", message: "slow down" } }],
      ["openai", { error: { message: "slow down", type: "requests", param: null, code: "rate_limit_exceeded" } }],
      ["anthropic", { type: "error", error: { type: "rate_limit_error", message: "slow down" }, request_id: "req-1" }],
    ] as const) {
      const res = errorResponse(limited, "req-1", log, format);
      expect(res.status).toBe(429);
      expect(res.headers.get("retry-after")).toBe("7");
      expect(res.headers.get("x-ratelimit-limit")).toBe("2");
      expect(await res.json()).toEqual(body);
    }
    // An unexpected error shows no internals in any format.
    const res = errorResponse(new Error("secret internals"), "req-2", log, "openai");
    expect(res.status).toBe(500);
    expect(JSON.stringify(await res.json())).not.toContain("secret internals");
  });
});
