// The original and compatible endpoints on each cloud provider, end to end: our host (on PGlite,
// and on PostgreSQL when TEST_DATABASE_URL is set) → the adapters on the vendors' SDKs → the
// emulator. /v1/llm/generate, /v1/chat/completions (openai SDK), /v1/messages (Anthropic SDK),
// plain and streamed, and /v1/embeddings and /v1/llm/generate-embeddings; every usage row exact to
// the token and its cost exact to the catalogue price.
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { emulatorEmbedding } from "@/tests/emulators/provider-emulator.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { useCompatServer } from "../openai-compat/harness.ts";
import { cloudEmulatorEnv } from "@/tests/support/host.ts";

/** One provider's models and their catalogue prices (USD per 1M tokens, as text: exact). */
type Case = {
  provider: string;
  protocol: string;
  chat: string;
  input: string;
  output: string;
  embedding: string;
  embeddingInput: string;
  /** The model id the emulator sees (what the adapter sends). */
  upstreamEmbedding: string;
  dimensions: number;
};

const CASES: Case[] = [
  {
    provider: "azure-openai",
    protocol: "azure",
    chat: "azure/gpt-4o",
    input: "2.5",
    output: "10",
    embedding: "azure/text-embedding-3-small",
    embeddingInput: "0.02",
    upstreamEmbedding: "text-embedding-3-small",
    dimensions: 1536,
  },
  {
    provider: "bedrock",
    protocol: "bedrock",
    chat: "anthropic.claude-sonnet-4-5-20250929-v1:0",
    input: "3",
    output: "15",
    embedding: "amazon.titan-embed-text-v2:0",
    embeddingInput: "0.02",
    upstreamEmbedding: "amazon.titan-embed-text-v2:0",
    dimensions: 1024,
  },
  {
    provider: "gemini",
    protocol: "gemini",
    chat: "gemini-2.5-flash",
    input: "0.3",
    output: "2.5",
    embedding: "gemini-embedding-001",
    embeddingInput: "0.15",
    upstreamEmbedding: "gemini-embedding-001",
    dimensions: 3072,
  },
  {
    provider: "vertex",
    protocol: "vertex",
    chat: "vertex/gemini-2.5-pro",
    input: "1.25",
    output: "10",
    embedding: "vertex/text-embedding-005",
    embeddingInput: "0.1",
    upstreamEmbedding: "text-embedding-005",
    dimensions: 768,
  },
];

/** USD per 1M tokens as micro-dollars per 1M tokens: tokens × this = the cost in picodollars. */
function micros(price: string): bigint {
  const [whole, frac = ""] = price.split(".");
  return BigInt(whole!) * 1_000_000n + BigInt(frac.padEnd(6, "0"));
}

/** A cost in picodollars as usage_events prints it (12 decimals). */
function usd(picos: bigint): string {
  return `${picos / 1_000_000_000_000n}.${(picos % 1_000_000_000_000n).toString().padStart(12, "0")}`;
}

function cost(c: Case, input: number, output: number): { input: bigint; output: bigint; total: bigint } {
  const i = BigInt(input) * micros(c.input);
  const o = BigInt(output) * micros(c.output);
  return { input: i, output: o, total: i + o };
}

function sse(text: string): Record<string, unknown>[] {
  return text
    .split("\n\n")
    .map((f) =>
      f
        .split("\n")
        .find((l) => l.startsWith("data: "))
        ?.slice(6),
    )
    .filter((d): d is string => d !== undefined && d !== "[DONE]")
    .map((d) => JSON.parse(d) as Record<string, unknown>);
}

describe.each(testDatabases())("cloud providers' endpoints on $kind", ({ kind }) => {
  const server = useCompatServer(kind, cloudEmulatorEnv);
  const openai = () => new OpenAI({ apiKey: server.key, baseURL: `${server.url}/v1`, maxRetries: 0 });
  const anthropic = () => new Anthropic({ apiKey: server.key, baseURL: server.url, maxRetries: 0 });
  const post = (route: string, body: unknown, requestId: string) =>
    fetch(`${server.url}${route}`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json", "x-request-id": requestId },
      body: JSON.stringify(body),
    });

  describe.each(CASES)("$provider", (c) => {
    const rid = (name: string) => `${kind}-${c.provider}-${name}`;
    const expectRow = async (name: string, endpoint: string, input: number, output: number, stream: boolean) => {
      const k = cost(c, input, output);
      expect(await server.events(rid(name))).toEqual([
        expect.objectContaining({
          endpoint,
          status: "success",
          provider: c.provider,
          model_id: c.chat,
          input_tokens: input,
          output_tokens: output,
          input_cost: usd(k.input),
          output_cost: usd(k.output),
          total_cost: usd(k.total),
          stream,
        }),
      ]);
      return k;
    };
    const upstream = () => server.emulator.requests.filter((r) => r.protocol === c.protocol);

    it("/v1/llm/generate, plain: the reply, exact usage and cost, one upstream call in the vendor's protocol", async () => {
      const res = await post(
        "/v1/llm/generate",
        { model: c.chat, messages: [{ role: "user", content: "hello there friend" }], max_tokens: 100 },
        rid("gen"),
      );
      expect(res.status).toBe(200);
      const body = (await res.json()) as { response: string; provider: string; usage: unknown; cost: { total_cost: number } };
      // 3 words in; "You said: hello there friend" is 5 out.
      expect(body).toMatchObject({
        response: "You said: hello there friend",
        provider: c.provider,
        usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
      });
      const k = await expectRow("gen", "/v1/llm/generate", 3, 5, false);
      expect(body.cost.total_cost).toBe(Number(usd(k.total)));
      expect(upstream()).toHaveLength(1);
    });

    it("/v1/llm/generate, streamed: deltas, a done event with usage, the row exact", async () => {
      const res = await post(
        "/v1/llm/generate",
        { model: c.chat, stream: true, messages: [{ role: "user", content: "alpha beta gamma delta" }] },
        rid("gen-stream"),
      );
      expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
      const events = sse(await res.text());
      expect(
        events
          .filter((e) => e.type === "delta")
          .map((e) => e.text)
          .join(""),
      ).toBe("You said: alpha beta gamma delta");
      expect(events.at(-1)).toMatchObject({ type: "done", usage: { prompt_tokens: 4, completion_tokens: 6 } });
      await expectRow("gen-stream", "/v1/llm/generate", 4, 6, true);
      expect(upstream()[0]!.stream).toBe(true);
    });

    it("/v1/chat/completions through the openai SDK, plain and streamed with include_usage", async () => {
      const plain = await openai().chat.completions.create(
        {
          model: c.chat,
          messages: [
            { role: "system", content: "be brief" },
            { role: "user", content: "one two three" },
          ],
        },
        { headers: { "x-request-id": rid("chat") } },
      );
      expect(plain.choices[0]!.message.content).toBe("You said: one two three");
      expect(plain.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 });
      await expectRow("chat", "/v1/chat/completions", 5, 5, false);
      const stream = await openai().chat.completions.create(
        { model: c.chat, stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "four five" }] },
        { headers: { "x-request-id": rid("chat-stream") } },
      );
      const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      expect(chunks.map((ch) => ch.choices[0]?.delta.content ?? "").join("")).toBe("You said: four five");
      expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 4 });
      await expectRow("chat-stream", "/v1/chat/completions", 2, 4, true);
    });

    it("/v1/messages through the Anthropic SDK, plain and streamed", async () => {
      const message = await anthropic().messages.create(
        { model: c.chat, max_tokens: 100, system: "be brief", messages: [{ role: "user", content: "six seven" }] },
        { headers: { "x-request-id": rid("msg") } },
      );
      expect(message.content).toEqual([{ type: "text", text: "You said: six seven" }]);
      expect(message.usage).toMatchObject({ input_tokens: 4, output_tokens: 4 });
      await expectRow("msg", "/v1/messages", 4, 4, false);
      const stream = anthropic().messages.stream(
        { model: c.chat, max_tokens: 100, messages: [{ role: "user", content: "eight nine ten" }] },
        { headers: { "x-request-id": rid("msg-stream") } },
      );
      const final = await stream.finalMessage();
      expect(final.content).toEqual([{ type: "text", text: "You said: eight nine ten" }]);
      expect(final.usage).toMatchObject({ input_tokens: 3, output_tokens: 5 });
      await expectRow("msg-stream", "/v1/messages", 3, 5, true);
    });

    it("/v1/embeddings (openai SDK) and /v1/llm/generate-embeddings: the vectors, exact usage and cost", async () => {
      const price = micros(c.embeddingInput);
      const res = await openai().embeddings.create(
        { model: c.embedding, input: ["first text here", "second"] },
        { headers: { "x-request-id": rid("emb") } },
      );
      expect(res.data.map((d) => d.embedding)).toEqual([
        emulatorEmbedding("first text here", c.upstreamEmbedding, c.dimensions),
        emulatorEmbedding("second", c.upstreamEmbedding, c.dimensions),
      ]);
      expect(res.usage).toEqual({ prompt_tokens: 4, total_tokens: 4 });
      expect(await server.events(rid("emb"))).toEqual([
        expect.objectContaining({
          endpoint: "/v1/embeddings",
          status: "success",
          provider: c.provider,
          model_id: c.embedding,
          input_tokens: 4,
          total_cost: usd(4n * price),
        }),
      ]);
      const original = await post("/v1/llm/generate-embeddings", { model: c.embedding, texts: ["a b c", "d e"] }, rid("emb-orig"));
      expect(original.status).toBe(200);
      const body = (await original.json()) as { embeddings: number[][]; usage: { prompt_tokens: number } };
      expect(body.embeddings[1]).toEqual(emulatorEmbedding("d e", c.upstreamEmbedding, c.dimensions));
      expect(body.usage.prompt_tokens).toBe(5);
      expect(await server.events(rid("emb-orig"))).toEqual([
        expect.objectContaining({
          endpoint: "/v1/llm/generate-embeddings",
          status: "success",
          provider: c.provider,
          input_tokens: 5,
          total_cost: usd(5n * price),
        }),
      ]);
    });

    it("a provider fault reaches the caller as our error, recorded without a key", async () => {
      const res = await post(
        "/v1/llm/generate",
        { model: c.chat, messages: [{ role: "user", content: "x [[emulator fault=unauthorized]]" }] },
        rid("auth"),
      );
      expect(res.status).toBe(502);
      const text = await res.text();
      expect(text).toContain("credentials");
      for (const secret of [
        server.emulator.cloud.azureKey!,
        server.emulator.cloud.bedrockSecretAccessKey,
        server.emulator.cloud.geminiKey!,
      ])
        expect(text).not.toContain(secret);
      expect(await server.events(rid("auth"))).toEqual([expect.objectContaining({ status: "error", provider: c.provider })]);
    });
  });
});
