// The cloud emulators' wire formats at byte level: Azure's deployments paths and api-version,
// Bedrock's SigV4 shape checks and event stream framing, Gemini's and Vertex's paths, keys and
// error shapes. (The adapters' tests drive the same routes through the official SDKs.)
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { decodeEventStream, eventStreamMessage } from "./cloud-emulators.ts";
import { emulatorEmbedding, startProviderEmulator, type ProviderEmulator } from "./provider-emulator.ts";

let emu: ProviderEmulator;
beforeAll(async () => {
  emu = await startProviderEmulator();
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

const post = (path: string, headers: Record<string, string>, body: unknown) =>
  fetch(`${emu.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

function amzDate(d = new Date()): string {
  return d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}
function sigv4(region = emu.cloud.bedrockRegion, keyId = emu.cloud.bedrockAccessKeyId!, service = "bedrock"): Record<string, string> {
  const date = amzDate();
  return {
    "x-amz-date": date,
    authorization: `AWS4-HMAC-SHA256 Credential=${keyId}/${date.slice(0, 8)}/${region}/${service}/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=${"ab".repeat(32)}`,
  };
}

describe("Azure OpenAI wire format", () => {
  const path = (deployment: string, version?: string) =>
    `/openai/deployments/${deployment}/chat/completions${version ? `?api-version=${version}` : ""}`;
  const chat = { messages: [{ role: "user", content: "hi there" }] };

  it("answers the OpenAI protocol under the deployment name with the api-key header", async () => {
    const res = await post(path("gpt-4o-prod", "2024-10-21"), { "api-key": emu.cloud.azureKey! }, chat);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { model: string; choices: { message: { content: string } }[]; usage: { prompt_tokens: number } };
    expect(body.model).toBe("gpt-4o-prod");
    expect(body.choices[0]!.message.content).toBe("You said: hi there");
    expect(body.usage.prompt_tokens).toBe(2);
  });

  it("takes an Entra bearer token instead of the key", async () => {
    const res = await post(path("gpt-4o", "2024-10-21"), { authorization: `Bearer ${emu.cloud.azureToken}` }, chat);
    expect(res.status).toBe(200);
  });

  it("requires api-version and a known one, and a key, in Azure's error shape", async () => {
    const missing = await post(path("gpt-4o"), { "api-key": emu.cloud.azureKey! }, chat);
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({ error: { code: "BadRequest", message: "Missing required query parameter: api-version" } });
    const unknown = await post(path("gpt-4o", "1999-01-01"), { "api-key": emu.cloud.azureKey! }, chat);
    expect(unknown.status).toBe(404);
    const wrongKey = await post(path("gpt-4o", "2024-10-21"), { "api-key": "nope" }, chat);
    expect(wrongKey.status).toBe(401);
    expect(((await wrongKey.json()) as { error: { code: string } }).error.code).toBe("401");
  });

  it("answers faults in Azure's shape with retry-after", async () => {
    const res = await post(
      path("gpt-4o", "2024-10-21"),
      { "api-key": emu.cloud.azureKey!, "x-emulator": "fault=rate_limit retry_after=3" },
      chat,
    );
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("3");
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("429");
    expect(body.error.message).toMatch(/Please retry after 3 second/);
  });

  it("serves embeddings under the deployment", async () => {
    const res = await post(
      "/openai/deployments/emb/embeddings?api-version=2024-10-21",
      { "api-key": emu.cloud.azureKey! },
      { input: ["a b"] },
    );
    const body = (await res.json()) as { data: { embedding: number[] }[]; usage: { prompt_tokens: number } };
    expect(body.data[0]!.embedding).toEqual(emulatorEmbedding("a b", "emb"));
    expect(body.usage.prompt_tokens).toBe(2);
  });
});

describe("Bedrock wire format", () => {
  const converse = { messages: [{ role: "user", content: [{ text: "hello you" }] }], system: [{ text: "be brief" }] };

  it("answers Converse JSON with Bedrock's usage", async () => {
    const res = await post("/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse", sigv4(), converse);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      output: { message: { role: "assistant", content: [{ text: "You said: hello you" }] } },
      stopReason: "end_turn",
      usage: { inputTokens: 4, outputTokens: 4, totalTokens: 8 },
    });
  });

  it("checks the SigV4 shape, the region of the credential scope, the service and the key id", async () => {
    const none = await post("/model/m/converse", {}, converse);
    expect(none.status).toBe(403);
    expect(none.headers.get("x-amzn-errortype")).toMatch(/^MissingAuthenticationTokenException:/);
    const region = await post("/model/m/converse", sigv4("eu-west-1"), converse);
    expect(region.status).toBe(403);
    expect(region.headers.get("x-amzn-errortype")).toMatch(/^InvalidSignatureException:/);
    expect(((await region.json()) as { message: string }).message).toMatch(/valid region/);
    const service = await post("/model/m/converse", sigv4(undefined, undefined, "s3"), converse);
    expect(service.status).toBe(403);
    const key = await post("/model/m/converse", sigv4(undefined, "AKIAOTHER"), converse);
    expect(key.status).toBe(403);
    expect(key.headers.get("x-amzn-errortype")).toMatch(/^UnrecognizedClientException:/);
    const shape = await post("/model/m/converse", { ...sigv4(), authorization: "AWS4-HMAC-SHA256 Credential=x" }, converse);
    expect(shape.headers.get("x-amzn-errortype")).toMatch(/^IncompleteSignatureException:/);
  });

  it("streams ConverseStream as event stream frames with valid CRCs", async () => {
    const res = await post("/model/amazon.nova-lite-v1%3A0/converse-stream", sigv4(), converse);
    expect(res.headers.get("content-type")).toBe("application/vnd.amazon.eventstream");
    const frames = decodeEventStream(Buffer.from(await res.arrayBuffer()));
    const types = frames.map((f) => f.headers[":event-type"]);
    expect(types[0]).toBe("messageStart");
    expect(types.slice(-3)).toEqual(["contentBlockStop", "messageStop", "metadata"]);
    expect(frames.every((f) => f.headers[":message-type"] === "event" && f.headers[":content-type"] === "application/json")).toBe(true);
    const text = frames
      .filter((f) => f.headers[":event-type"] === "contentBlockDelta")
      .map((f) => (JSON.parse(f.payload.toString()) as { delta: { text: string } }).delta.text);
    expect(text.join("")).toBe("You said: hello you");
    expect(JSON.parse(frames.at(-1)!.payload.toString())).toMatchObject({ usage: { inputTokens: 4, outputTokens: 4, totalTokens: 8 } });
  });

  it("sends a stream error as an exception frame", async () => {
    const res = await post("/model/m/converse-stream", { ...sigv4(), "x-emulator": "fault=stream_error after=1" }, converse);
    const frames = decodeEventStream(Buffer.from(await res.arrayBuffer()));
    expect(frames.at(-1)!.headers).toMatchObject({ ":message-type": "exception", ":exception-type": "modelStreamErrorException" });
  });

  it("frames round-trip and a corrupt CRC is detected", () => {
    const frame = eventStreamMessage({ ":event-type": "x" }, Buffer.from("{}"));
    expect(decodeEventStream(frame)[0]!.headers).toEqual({ ":event-type": "x" });
    expect(() => decodeEventStream(eventStreamMessage({ a: "b" }, Buffer.from("{}"), true))).toThrow(/CRC/);
  });

  it("serves Titan and Cohere embeddings through InvokeModel", async () => {
    const titan = await post("/model/amazon.titan-embed-text-v2%3A0/invoke", sigv4(), { inputText: "one two three", dimensions: 256 });
    const t = (await titan.json()) as { embedding: number[]; inputTextTokenCount: number };
    expect(t.inputTextTokenCount).toBe(3);
    expect(t.embedding).toEqual(emulatorEmbedding("one two three", "amazon.titan-embed-text-v2:0", 256));
    const cohere = await post("/model/cohere.embed-english-v3/invoke", sigv4(), { texts: ["a", "b c"], input_type: "search_document" });
    expect(cohere.headers.get("x-amzn-bedrock-input-token-count")).toBe("3");
    expect(((await cohere.json()) as { embeddings: number[][] }).embeddings).toHaveLength(2);
  });

  it("answers throttling in Bedrock's shape", async () => {
    const res = await post("/model/m/converse", { ...sigv4(), "x-emulator": "fault=rate_limit" }, converse);
    expect(res.status).toBe(429);
    expect(res.headers.get("x-amzn-errortype")).toMatch(/^ThrottlingException:/);
    expect(await res.json()).toEqual({ message: "Too many requests, please wait before trying again." });
  });
});

describe("Gemini API and Vertex AI wire formats", () => {
  const gen = { contents: [{ role: "user", parts: [{ text: "hey you" }] }] };

  it("answers generateContent with usageMetadata, and streams alt=sse", async () => {
    const res = await post("/v1beta/models/gemini-2.5-flash:generateContent", { "x-goog-api-key": emu.cloud.geminiKey! }, gen);
    expect(await res.json()).toMatchObject({
      candidates: [{ content: { role: "model", parts: [{ text: "You said: hey you" }] }, finishReason: "STOP" }],
      usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 4, totalTokenCount: 6 },
      modelVersion: "gemini-2.5-flash",
    });
    const stream = await post(
      "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
      { "x-goog-api-key": emu.cloud.geminiKey! },
      gen,
    );
    const events = (await stream.text()).split("\r\n\r\n").filter(Boolean);
    expect(events.every((e) => e.startsWith("data: "))).toBe(true);
    expect(JSON.parse(events.at(-1)!.slice(6))).toMatchObject({
      candidates: [{ finishReason: "STOP" }],
      usageMetadata: { candidatesTokenCount: 4 },
    });
  });

  it("answers a wrong key 400 API_KEY_INVALID and none 403, as Google does", async () => {
    const wrong = await post("/v1beta/models/gemini-2.5-flash:generateContent", { "x-goog-api-key": "nope" }, gen);
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({
      error: { code: 400, status: "INVALID_ARGUMENT", details: [{ reason: "API_KEY_INVALID" }] },
    });
    const none = await post("/v1beta/models/gemini-2.5-flash:generateContent", {}, gen);
    expect(none.status).toBe(403);
  });

  it("gives RetryInfo on 429", async () => {
    const res = await post(
      "/v1beta/models/gemini-2.5-flash:generateContent",
      { "x-goog-api-key": emu.cloud.geminiKey!, "x-emulator": "fault=rate_limit retry_after=4" },
      gen,
    );
    expect(res.status).toBe(429);
    expect(await res.json()).toMatchObject({ error: { status: "RESOURCE_EXHAUSTED", details: [{ retryDelay: "4s" }] } });
  });

  it("serves batchEmbedContents", async () => {
    const res = await post(
      "/v1beta/models/gemini-embedding-001:batchEmbedContents",
      { "x-goog-api-key": emu.cloud.geminiKey! },
      {
        requests: [{ model: "models/gemini-embedding-001", content: { parts: [{ text: "x y" }] }, outputDimensionality: 8 }],
      },
    );
    expect(await res.json()).toEqual({
      embeddings: [{ values: emulatorEmbedding("x y", "gemini-embedding-001", 8) }],
      usageMetadata: { promptTokenCount: 2, totalTokenCount: 2 },
    });
  });

  it("serves Vertex paths for the configured project and location with a bearer token", async () => {
    const c = emu.cloud;
    const base = `/v1beta1/projects/${c.vertexProject}/locations/${c.vertexLocation}/publishers/google/models`;
    const ok = await post(`${base}/gemini-2.5-pro:generateContent`, { authorization: `Bearer ${c.vertexToken}` }, gen);
    expect(ok.status).toBe(200);
    const noToken = await post(`${base}/gemini-2.5-pro:generateContent`, {}, gen);
    expect(noToken.status).toBe(401);
    const otherProject = await post(
      `/v1beta1/projects/other/locations/${c.vertexLocation}/publishers/google/models/gemini-2.5-pro:generateContent`,
      { authorization: `Bearer ${c.vertexToken}` },
      gen,
    );
    expect(otherProject.status).toBe(403);
    const predict = await post(
      `${base}/text-embedding-005:predict`,
      { authorization: `Bearer ${c.vertexToken}` },
      { instances: [{ content: "a b c" }] },
    );
    expect(await predict.json()).toMatchObject({ predictions: [{ embeddings: { statistics: { token_count: 3, truncated: false } } }] });
  });
});
