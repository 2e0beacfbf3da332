// The JSON 404 of a path no endpoint serves: the shape each family's SDK parses.
import { describe, expect, it } from "vitest";
import { noEndpoint } from "./endpoint.ts";
import { errorFormatForPath } from "./error-formats.ts";

describe("a path no endpoint serves", () => {
  it("picks the error shape of the path's family", () => {
    expect(errorFormatForPath("/v1/completions")).toBe("openai");
    expect(errorFormatForPath("/v1/responses/abc")).toBe("openai");
    expect(errorFormatForPath("/v1/messages/batches")).toBe("anthropic");
    expect(errorFormatForPath("/v1/complete")).toBe("anthropic");
    expect(errorFormatForPath("/v1/messagesx")).toBe("openai");
    expect(errorFormatForPath("/v1/llm/nothing")).toBe("default");
    expect(errorFormatForPath("/v1/vector/x")).toBe("default");
    expect(errorFormatForPath("/api/nothing")).toBe("default");
  });

  it("answers 404 with a request id for every method, naming the path", async () => {
    for (const [method, handler] of Object.entries(noEndpoint)) {
      const res = await handler(new Request("http://localhost/v1/llm/nothing?x=1", { method, headers: { "x-request-id": "req-123" } }), {
        params: Promise.resolve({}),
      });
      expect(res.status, method).toBe(404);
      expect(res.headers.get("x-request-id")).toBe("req-123");
      expect(await res.json()).toEqual({
        error: { code: "not_found", message: "No endpoint at /v1/llm/nothing; see /v1/openapi.json for the API's paths" },
      });
    }
    const openai = await noEndpoint.POST(new Request("http://localhost/v1/completions", { method: "POST" }), {
      params: Promise.resolve({}),
    });
    expect(await openai.json()).toMatchObject({ error: { type: "invalid_request_error", code: "not_found", param: null } });
  });
});
