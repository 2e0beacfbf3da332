// One REST suite, run against both hosts of the same build (playwright.config.ts, scripts/e2e.mjs):
// "api-lean" is the node:http host that answers the API itself (`npm start`), "api-next" the same
// handlers through Next's route files (SERVE_API_THROUGH_NEXT=1). Both servers' Anthropic provider
// is the wire-level emulator and OpenAI is unconfigured; the official SDKs drive the compatible
// endpoints. Each project signs its calls with an admin key that scripts/e2e.mjs created for it.
import Anthropic from "@anthropic-ai/sdk";
import { expect, test as base } from "@playwright/test";
import OpenAI from "openai";

const test = base.extend<{ apiKey: string; host: string }>({
  apiKey: ["", { option: true }],
  host: ["", { option: true }],
});

const MODEL = "claude-3-haiku-20240307";

test.beforeEach(({ apiKey }) => {
  expect(apiKey, "scripts/e2e.mjs sets an API key for this project").toMatch(/^ms_/);
});

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

test("health, ping and the auth wall", async ({ request }) => {
  const health = await request.get("/health");
  expect(health.status()).toBe(200);
  expect(await health.json()).toMatchObject({ status: "ok", dependencies: { database: { status: "ok" } } });
  expect((await request.get("/ping")).status()).toBe(200);
  const denied = await request.post("/v1/llm/generate", { data: { model: MODEL, messages: [{ role: "user", content: "hi" }] } });
  expect(denied.status()).toBe(401);
  expect((await denied.json()).error.code).toBeTruthy();
});

test("POST /v1/llm/generate answers with usage and cost, plain and streamed", async ({ request, apiKey }) => {
  const plain = await request.post("/v1/llm/generate", {
    headers: auth(apiKey),
    data: { model: MODEL, messages: [{ role: "user", content: "alpha beta gamma" }] },
  });
  expect(plain.status()).toBe(200);
  expect(plain.headers()["x-request-id"]).toBeTruthy();
  const body = await plain.json();
  expect(body).toMatchObject({ model: MODEL, provider: "anthropic", response: "You said: alpha beta gamma", finish_reason: "stop" });
  expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + body.usage.completion_tokens);
  expect(Number(body.cost.total_cost)).toBeGreaterThan(0);

  const streamed = await request.post("/v1/llm/generate", {
    headers: auth(apiKey),
    data: { model: MODEL, stream: true, messages: [{ role: "user", content: "one two three" }] },
  });
  expect(streamed.status()).toBe(200);
  expect(streamed.headers()["content-type"]).toMatch(/^text\/event-stream/);
  const events = (await streamed.text())
    .split("\n\n")
    .filter((f) => f.startsWith("data: "))
    .map((f) => f.slice(6));
  expect(events.at(-1)).toBe("[DONE]");
  const parsed = events.slice(0, -1).map((e) => JSON.parse(e) as { type: string; text?: string; response?: string });
  expect(
    parsed
      .filter((e) => e.type === "delta")
      .map((e) => e.text)
      .join(""),
  ).toBe("You said: one two three");
  expect(parsed.at(-1)).toMatchObject({ type: "done", response: "You said: one two three" });
});

test("the OpenAI SDK: chat completions plain and streamed, models, embeddings", async ({ apiKey, baseURL }) => {
  const openai = new OpenAI({ apiKey, baseURL: `${baseURL}/v1`, maxRetries: 0 });
  const completion = await openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "red green" }] });
  expect(completion.choices[0]!.message.content).toBe("You said: red green");
  expect(completion.usage!.total_tokens).toBeGreaterThan(0);

  const stream = await openai.chat.completions.create({
    model: MODEL,
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: "user", content: "blue yellow" }],
  });
  let text = "";
  let usage: OpenAI.CompletionUsage | undefined | null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? "";
    usage ??= chunk.usage;
  }
  expect(text).toBe("You said: blue yellow");
  expect(usage!.completion_tokens).toBeGreaterThan(0);

  const models = await openai.models.list();
  expect(models.data.map((m) => m.id)).toContain(MODEL);
  const embedded = await openai.embeddings.create({ model: "local-hash-384", input: ["first text", "second text"] });
  expect(embedded.data).toHaveLength(2);
  expect(embedded.data[0]!.embedding).toHaveLength(384);

  const error = await openai.chat.completions
    .create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] })
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(OpenAI.NotFoundError);
});

test("the Anthropic SDK: messages plain and streamed", async ({ apiKey, baseURL }) => {
  const anthropic = new Anthropic({ apiKey, baseURL: baseURL!, maxRetries: 0 });
  const message = await anthropic.messages.create({ model: MODEL, max_tokens: 100, messages: [{ role: "user", content: "north south" }] });
  expect(message.content[0]).toMatchObject({ type: "text", text: "You said: north south" });
  expect(message.stop_reason).toBe("end_turn");

  const stream = anthropic.messages.stream({ model: MODEL, max_tokens: 100, messages: [{ role: "user", content: "east west" }] });
  const final = await stream.finalMessage();
  expect(final.content[0]).toMatchObject({ type: "text", text: "You said: east west" });
  expect(final.usage.output_tokens).toBeGreaterThan(0);
});

test("embeddings, vectors, usage and cost through the original REST paths", async ({ request, apiKey, host }) => {
  const embed = await request.post("/v1/llm/generate-embeddings", {
    headers: auth(apiKey),
    data: { model: "local-hash-384", texts: ["cats purr", "dogs bark"] },
  });
  expect(embed.status()).toBe(200);
  const vectors = ((await embed.json()) as { embeddings: number[][] }).embeddings;
  expect(vectors).toHaveLength(2);

  const name = `rest_${host}_${Date.now()}`;
  const created = await request.post("/v1/vector/collections", {
    headers: auth(apiKey),
    data: { collection_name: name, vector_size: 384, distance: "Cosine" },
  });
  expect(created.status()).toBe(200);
  const upsert = await request.post("/v1/vector/points", {
    headers: auth(apiKey),
    data: {
      collection_name: name,
      points: [
        { id: "cat", vector: vectors[0], payload: { kind: "cat" } },
        { id: 2, vector: vectors[1], payload: { kind: "dog" } },
      ],
    },
  });
  expect(upsert.status()).toBe(200);
  const search = await request.post("/v1/vector/search", {
    headers: auth(apiKey),
    data: { collection_name: name, query_vector: vectors[0], limit: 2 },
  });
  expect(search.status()).toBe(200);
  const results = ((await search.json()) as { results: { id: string | number; score: number; payload: unknown }[] }).results;
  expect(results.map((r) => r.id)).toEqual(["cat", 2]);
  expect(results[0]!.score).toBeCloseTo(1, 5);
  expect((await request.get(`/v1/vector/collections/${name}`, { headers: auth(apiKey) })).status()).toBe(200);
  expect((await request.delete(`/v1/vector/collections/${name}`, { headers: auth(apiKey) })).status()).toBe(200);
  expect((await request.get(`/v1/vector/collections/${name}`, { headers: auth(apiKey) })).status()).toBe(404);

  const cost = await request.post("/v1/llm/cost", {
    headers: auth(apiKey),
    data: { model: MODEL, input_tokens: 1_000_000, output_tokens: 1_000_000 },
  });
  expect(cost.status()).toBe(200);
  expect(await cost.json()).toMatchObject({ input_cost: 0.25, output_cost: 1.25, total_cost: 1.5 });

  // Usage is written in batches about once a second: the calls of the tests above appear shortly.
  const today = new Date().toISOString().slice(0, 10);
  await expect
    .poll(async () => {
      const usage = await request.get(`/v1/llm/usage?start_date=${today}&end_date=${today}`, { headers: auth(apiKey) });
      expect(usage.status()).toBe(200);
      return ((await usage.json()) as { requests_by_model: Record<string, number> }).requests_by_model[MODEL] ?? 0;
    })
    .toBeGreaterThan(0);

  for (const path of ["/v1/llm/models", "/api/v1/models"]) {
    const models = await request.get(path, { headers: auth(apiKey) });
    expect(models.status()).toBe(200);
    const list = (await models.json()) as { id: string; available: boolean }[];
    expect(list.find((m) => m.id === MODEL)?.available).toBe(true);
  }
  const metrics = await request.get("/metrics", { headers: auth(apiKey) });
  expect(metrics.status()).toBe(200);
  expect(await metrics.text()).toContain("model_service_requests_total");
});

test("callers' mistakes get a 4xx that says what to fix", async ({ request, apiKey }) => {
  const invalid = await request.post("/v1/llm/generate", { headers: auth(apiKey), data: { model: MODEL, messages: "hello" } });
  expect(invalid.status()).toBe(400);
  expect((await invalid.json()).error.message).toContain("messages");

  const unknown = await request.post("/v1/llm/generate", {
    headers: auth(apiKey),
    data: { model: "gpt-nonexistent-9", messages: [{ role: "user", content: "x" }] },
  });
  expect(unknown.status()).toBe(404);

  const unconfigured = await request.post("/v1/llm/generate", {
    headers: auth(apiKey),
    data: { model: "gpt-4o-mini", messages: [{ role: "user", content: "x" }] },
  });
  expect(unconfigured.status()).toBe(503);
  expect((await unconfigured.json()).error.message).toMatch(/openai/i);

  const notJson = await request.post("/v1/llm/generate", { headers: { ...auth(apiKey), "content-type": "text/plain" }, data: "model=x" });
  expect(notJson.status()).toBe(415);

  const brokenJson = await request.post("/v1/llm/generate", {
    headers: { ...auth(apiKey), "content-type": "application/json" },
    data: "{nope",
  });
  expect(brokenJson.status()).toBe(400);

  const tooBig = await request.post("/v1/llm/generate", {
    headers: auth(apiKey),
    data: { model: MODEL, messages: [{ role: "user", content: "x".repeat(11 * 1024 * 1024) }] },
  });
  expect(tooBig.status()).toBe(413);

  const wrongMethod = await request.put("/v1/llm/generate", { headers: auth(apiKey), data: {} });
  expect(wrongMethod.status()).toBe(405);
  expect(wrongMethod.headers()["allow"]).toContain("POST");
});

test("an undeclared method runs no handler: OPTIONS 204 with Allow, others 405 with Allow, as on the other host", async ({
  request,
  apiKey,
  host,
}) => {
  const name = `options_${host}_${Date.now()}`;
  // OPTIONS once ran the POST handler on the lean host: this would have created the collection.
  const options = await request.fetch("/v1/vector/collections", {
    method: "OPTIONS",
    headers: auth(apiKey),
    data: { collection_name: name, vector_size: 3 },
  });
  expect(options.status()).toBe(204);
  expect(options.headers()["allow"]).toBe("POST, GET, HEAD, OPTIONS");
  expect((await request.get(`/v1/vector/collections/${name}`, { headers: auth(apiKey) })).status()).toBe(404);
  const generate = await request.fetch("/v1/llm/generate", {
    method: "OPTIONS",
    data: { model: MODEL, messages: [{ role: "user", content: "billed?" }] },
  });
  expect(generate.status()).toBe(204);
  expect(generate.headers()["allow"]).toBe("POST, OPTIONS");
  const patch = await request.patch("/v1/vector/collections", { headers: auth(apiKey), data: { collection_name: name, vector_size: 3 } });
  expect(patch.status()).toBe(405);
  expect(patch.headers()["allow"]).toBe("POST, GET, HEAD, OPTIONS");
  expect((await patch.json()).error.code).toBe("method_not_allowed");
  const head = await request.head("/v1/llm/models", { headers: auth(apiKey) });
  expect(head.status()).toBe(200);
  expect(await head.text()).toBe("");
  // The tRPC endpoint: GET and POST, the same record of handlers on both hosts.
  const trpcOptions = await request.fetch("/api/trpc/auth.me", { method: "OPTIONS" });
  expect(trpcOptions.status()).toBe(204);
  expect(trpcOptions.headers()["allow"]).toBe("GET, POST, HEAD, OPTIONS");
  expect((await request.delete("/api/trpc/auth.me", { headers: auth(apiKey) })).status()).toBe(405);
});

test("edge input that once answered 500: a 4xx naming what is wrong", async ({ request, apiKey }) => {
  const malformed = await request.get("/v1/models/%25", { headers: auth(apiKey) });
  expect(malformed.status()).toBe(404);
  const badEncoding = await request.get("/v1/models/%E0%A4%A", { headers: auth(apiKey) });
  expect(badEncoding.status()).toBeGreaterThanOrEqual(400);
  expect(badEncoding.status()).toBeLessThan(500);
  const yearZero = await request.get("/v1/llm/usage?start_date=0000-01-01", { headers: auth(apiKey) });
  expect(yearZero.status()).toBe(400);
  expect((await yearZero.json()).error.message).toMatch(/start_date: a date from 1970-01-01/);
  const nul = await request.post("/v1/vector/collections", {
    headers: { ...auth(apiKey), "content-type": "application/json" },
    data: '{"collection_name": "a\\u0000b", "vector_size": 3}',
  });
  expect(nul.status()).toBe(400);
  const batch = await request.get(`/api/trpc/${Array(17).fill("auth.me").join(",")}?batch=1`, { headers: auth(apiKey) });
  expect(batch.status()).toBe(413);
  // A server action posted from another site: refused (CSRF) with a 403, not Next's 500.
  const action = await request.post("/login", {
    headers: { "next-action": "0".repeat(42), origin: "https://evil.example", "content-type": "text/plain;charset=UTF-8" },
    data: "[]",
  });
  expect(action.status()).toBe(403);
  const unparsable = await request.post("/login", {
    headers: { "next-action": "0".repeat(42), origin: "not a url", "content-type": "text/plain;charset=UTF-8" },
    data: "[]",
  });
  expect(unparsable.status()).toBe(403);
});

test("a path no endpoint serves answers a JSON 404 in its family's error shape, never a page or a redirect", async ({
  request,
  apiKey,
  baseURL,
}) => {
  // What the OpenAI SDK calls that we do not serve: its own NotFoundError, not a JSON parse failure.
  const openai = new OpenAI({ apiKey, baseURL: `${baseURL}/v1`, maxRetries: 0 });
  const legacy = await openai.completions.create({ model: MODEL, prompt: "hi" }).catch((e: unknown) => e);
  expect(legacy).toBeInstanceOf(OpenAI.NotFoundError);
  expect((legacy as InstanceType<typeof OpenAI.NotFoundError>).error).toMatchObject({ type: "invalid_request_error", code: "not_found" });

  for (const [method, path] of [
    ["POST", "/v1/completions"],
    ["GET", "/v1/typo"],
    ["DELETE", "/v1/chat/completions/extra"],
  ] as const) {
    const res = await request.fetch(path, { method, headers: auth(apiKey), data: method === "POST" ? {} : undefined, maxRedirects: 0 });
    expect(res.status(), `${method} ${path}`).toBe(404);
    expect(res.headers()["content-type"]).toMatch(/^application\/json/);
    expect(await res.json()).toMatchObject({ error: { type: "invalid_request_error", code: "not_found" } });
  }
  // Ours under /v1/llm, /v1/vector and /api; Anthropic's under /v1/messages.
  for (const path of ["/v1/llm/nothing", "/v1/vector/nothing", "/api/nothing", "/api/v1/nothing"]) {
    const res = await request.get(path, { headers: auth(apiKey), maxRedirects: 0 });
    expect(res.status(), path).toBe(404);
    expect(await res.json(), path).toMatchObject({ error: { code: "not_found", message: expect.stringContaining(path) } });
  }
  const anthropic = await request.post("/v1/messages/batches", { headers: auth(apiKey), data: {}, maxRedirects: 0 });
  expect(anthropic.status()).toBe(404);
  expect(await anthropic.json()).toMatchObject({ type: "error", error: { type: "not_found_error" } });
  // Without a key too: a 404, not a redirect to /login.
  const anonymous = await request.get("/v1/typo", { maxRedirects: 0 });
  expect(anonymous.status()).toBe(404);
});
