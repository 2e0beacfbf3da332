// OpenTelemetry spans of calls (server/features/usage/call-spans.ts), exported by the official
// @opentelemetry packages over OTLP/HTTP to a collector's endpoint (otlp-receiver.ts) from our host
// in-process, driven by the official openai and @anthropic-ai/sdk SDKs: the GenAI conventions'
// attribute names and values, the caller's traceparent continued, a retry as child spans, a
// failure marked, and the export's headers.
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contextOf, parseHeaders, tracesUrl } from "@/server/kernel/telemetry.ts";
import { trace } from "@opentelemetry/api";
import { useCompatServer } from "../openai-compat/harness.ts";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "./otlp-receiver.ts";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";

describe("OpenTelemetry spans over OTLP/HTTP", () => {
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
  });
  afterAll(() => receiver?.close());
  const server = useCompatServer("pglite", () => ({
    OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/`,
    OTEL_EXPORTER_OTLP_HEADERS: "x-collector-key=team%20blue",
    OTEL_SERVICE_NAME: "gateway-under-test",
  }));
  const openai = () => new OpenAI({ apiKey: server.key, baseURL: `${server.url}/v1`, maxRetries: 0 });
  const spanOf = async (requestId: string): Promise<ReceivedSpan> => {
    const until = Date.now() + 10_000;
    for (;;) {
      const span = receiver.spans.find((s) => s.attributes["model_service.request_id"] === requestId);
      if (span) return span;
      if (Date.now() > until) throw new Error(`no span for ${requestId}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it("a chat call is one client span with the GenAI attributes, continuing the caller's trace", async () => {
    await openai().chat.completions.create(
      { model: "gpt-4o", messages: [{ role: "user", content: "hello traced world" }] },
      { headers: { "x-request-id": "otel-chat", traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` } },
    );
    const span = await spanOf("otel-chat");
    expect(span.name).toBe("chat gpt-4o");
    expect(span.kind).toBe(3); // SPAN_KIND_CLIENT in OTLP
    expect(span.traceId).toBe(TRACE_ID);
    expect(span.parentSpanId).toBe(PARENT_ID);
    expect(span.attributes).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-4o",
      "gen_ai.response.model": "gpt-4o",
      "gen_ai.usage.input_tokens": 3,
      "gen_ai.usage.output_tokens": 5,
      "gen_ai.response.finish_reasons": ["stop"],
      "model_service.status": "success",
      "model_service.stream": false,
      "model_service.endpoint": "/v1/chat/completions",
    });
    // The cost as the usage event has it: 3 input and 5 output tokens at gpt-4o's $2.50 and $10 per 1M.
    const [event] = await server.events("otel-chat");
    expect(span.attributes["model_service.cost_usd"]).toBeCloseTo(Number(event!.total_cost), 12);
    expect(Number(event!.total_cost)).toBeCloseTo((3 * 2.5 + 5 * 10) / 1e6, 12);
    expect(span.endMs).toBeGreaterThanOrEqual(span.startMs);
    expect(span.resource["service.name"]).toBe("gateway-under-test");
    expect(span.headers["x-collector-key"]).toBe("team blue");
  });

  it("puts the prompt and the answer on the span only where the call's bodies are logged, redacted as stored", async () => {
    await openai().chat.completions.create(
      { model: "gpt-4o", messages: [{ role: "user", content: "my key is sk-abcdefghijklmnop1234" }] },
      { headers: { "x-request-id": "otel-logged", "x-model-service-log-body": "true" } },
    );
    const logged = await spanOf("otel-logged");
    expect(String(logged.attributes["gen_ai.input.messages"])).toContain("my key is sk-[redacted]");
    expect(String(logged.attributes["gen_ai.input.messages"])).not.toContain("abcdefghijklmnop1234");
    expect(String(logged.attributes["gen_ai.output.messages"])).toContain("You said: my key is");
    // The chat call of the first test logged no body: no content on its span.
    const plain = await spanOf("otel-chat");
    expect(plain.attributes).not.toHaveProperty("gen_ai.input.messages");
    expect(plain.attributes).not.toHaveProperty("gen_ai.output.messages");
  });

  it("a streamed Anthropic call is traced under its provider's conventional name, in a trace of its own without traceparent", async () => {
    const anthropic = new Anthropic({ apiKey: server.key, baseURL: server.url, maxRetries: 0 });
    const stream = anthropic.messages.stream(
      { model: "claude-haiku-4-5", max_tokens: 50, messages: [{ role: "user", content: "stream this please" }] },
      { headers: { "x-request-id": "otel-messages" } },
    );
    await stream.finalMessage();
    const span = await spanOf("otel-messages");
    // The model as the catalogue names it (the alias the caller used resolved).
    expect(span.name).toBe("chat claude-haiku-4-5-20251001");
    expect(span.parentSpanId).toBeUndefined();
    expect(span.traceId).not.toBe(TRACE_ID);
    expect(span.attributes).toMatchObject({
      "gen_ai.provider.name": "anthropic",
      "gen_ai.request.model": "claude-haiku-4-5-20251001",
      "gen_ai.response.finish_reasons": ["stop"],
      "model_service.stream": true,
      "model_service.endpoint": "/v1/messages",
    });
  });

  it("a retry is two child spans of the call: the failed one with its error type and what followed, then the answer", async () => {
    await openai().chat.completions.create(
      { model: "gpt-4o-mini", messages: [{ role: "user", content: "again [[emulator fail_first=1 status=500]]" }] },
      { headers: { "x-request-id": "otel-retry" } },
    );
    const call = await spanOf("otel-retry");
    expect(call.attributes["model_service.attempts"]).toBe(2);
    const children = receiver.spans.filter((s) => s.parentSpanId === call.spanId).sort((a, b) => a.startMs - b.startMs);
    expect(children).toHaveLength(2);
    expect(children.map((c) => c.traceId)).toEqual([call.traceId, call.traceId]);
    expect(children[0]!.attributes).toMatchObject({
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-4o-mini",
      "model_service.attempt": 1,
      "error.type": "server",
      "model_service.next": "retry",
    });
    expect(children[0]!.status.code).toBe(2); // STATUS_CODE_ERROR
    expect(children[1]!.attributes).toMatchObject({ "model_service.attempt": 2 });
    expect(children[1]!.attributes).not.toHaveProperty("error.type");
    expect(children[1]!.endMs).toBeLessThanOrEqual(call.endMs);
  });

  it("a failed call is marked with its error, and embeddings are traced as embeddings", async () => {
    await expect(
      openai().chat.completions.create(
        { model: "gpt-4o", messages: [{ role: "user", content: "x [[emulator fault=unauthorized]]" }] },
        { headers: { "x-request-id": "otel-failed" } },
      ),
    ).rejects.toThrow();
    const failed = await spanOf("otel-failed");
    expect(failed.status.code).toBe(2);
    expect(failed.attributes).toMatchObject({ "model_service.status": "error", "error.type": "provider_error" });

    await openai().embeddings.create(
      { model: "text-embedding-3-small", input: ["one", "two"] },
      { headers: { "x-request-id": "otel-embed" } },
    );
    const embed = await spanOf("otel-embed");
    expect(embed.name).toBe("embeddings text-embedding-3-small");
    expect(embed.attributes).toMatchObject({ "gen_ai.operation.name": "embeddings", "gen_ai.provider.name": "openai" });
    expect(embed.attributes["gen_ai.usage.input_tokens"]).toBeGreaterThan(0);
  });
});

describe("the tracing settings", () => {
  it("continues a valid traceparent only", () => {
    const ctx = contextOf(`00-${TRACE_ID}-${PARENT_ID}-01`);
    expect(trace.getSpanContext(ctx)).toMatchObject({ traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: 1, isRemote: true });
    for (const bad of [undefined, "", "garbage", `00-${"0".repeat(32)}-${PARENT_ID}-01`, `01-${TRACE_ID}-${PARENT_ID}-01-extra`]) {
      expect(trace.getSpanContext(contextOf(bad))).toBeUndefined();
    }
  });

  it("reads the exporter's URL and headers as the OpenTelemetry specification has them", () => {
    expect(tracesUrl("http://collector:4318")).toBe("http://collector:4318/v1/traces");
    expect(tracesUrl("http://collector:4318/")).toBe("http://collector:4318/v1/traces");
    expect(parseHeaders("a=1, b = two%20words ,broken,=x")).toEqual({ a: "1", b: "two words" });
    expect(parseHeaders(undefined)).toEqual({});
  });
});
