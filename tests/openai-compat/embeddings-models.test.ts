// POST /v1/embeddings and GET /v1/models[/{id}] driven by the official `openai` SDK against our host:
// base64 (the SDK's default) and float encodings giving the same vectors, dimensions, token arrays
// refused, usage recorded; the catalogue as OpenAI's model list, ids with dots, aliases and slashes.
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { catalogueEntrySchema } from "@/server/features/catalogue/catalogue-data.ts";
import { createModel } from "@/server/features/catalogue/models.ts";
import { emulatorEmbedding } from "@/tests/emulators/provider-emulator.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { useCompatServer } from "./harness.ts";

function decodeFloat32(b64: string): number[] {
  const buf = Buffer.from(b64, "base64");
  return Array.from({ length: buf.length / 4 }, (_, i) => buf.readFloatLE(i * 4));
}

describe.each(testDatabases())("POST /v1/embeddings and GET /v1/models on $kind", ({ kind }) => {
  const server = useCompatServer(kind);
  const client = () => new OpenAI({ apiKey: server.key, baseURL: `${server.url}/v1`, maxRetries: 0 });

  it("embeds with the SDK's default (base64 on the wire, decoded by the SDK) and records usage", async () => {
    const res = await client()
      .embeddings.create(
        { model: "text-embedding-3-small", input: ["first text", "second one here"] },
        { headers: { "x-request-id": `${kind}-emb-1` } },
      )
      .withResponse();
    expect(res.data.object).toBe("list");
    expect(res.data.model).toBe("text-embedding-3-small");
    expect(res.data.data.map((d) => d.index)).toEqual([0, 1]);
    expect(res.data.data[0]!.embedding).toEqual(emulatorEmbedding("first text", "text-embedding-3-small"));
    expect(res.data.data[1]!.embedding).toEqual(emulatorEmbedding("second one here", "text-embedding-3-small"));
    expect(res.data.usage).toEqual({ prompt_tokens: 5, total_tokens: 5 });
    // $0.02 per 1M: 5 tokens cost $0.0000001
    expect(await server.events(`${kind}-emb-1`)).toEqual([
      expect.objectContaining({
        endpoint: "/v1/embeddings",
        model_id: "text-embedding-3-small",
        input_tokens: 5,
        total_cost: "0.000000100000",
        status: "success",
      }),
    ]);
  });

  it("answers base64 as little-endian float32 and float as numbers: the same vectors", async () => {
    const b64 = await client().embeddings.create({ model: "text-embedding-3-small", input: "same text", encoding_format: "base64" });
    const float = await client().embeddings.create({ model: "text-embedding-3-small", input: "same text", encoding_format: "float" });
    const raw = b64.data[0]!.embedding as unknown as string;
    expect(typeof raw).toBe("string");
    expect(decodeFloat32(raw)).toEqual(float.data[0]!.embedding);
    expect(float.data[0]!.embedding).toEqual(emulatorEmbedding("same text", "text-embedding-3-small"));
  });

  it("honours dimensions, on OpenAI's model and on the local one", async () => {
    const openai = await client().embeddings.create({ model: "text-embedding-3-large", input: "short", dimensions: 8 });
    expect(openai.data[0]!.embedding).toEqual(emulatorEmbedding("short", "text-embedding-3-large", 8));
    expect(server.emulator.requests.at(-1)!.body).toMatchObject({ dimensions: 8 });
    const local = await client().embeddings.create({ model: "local-hash-384", input: ["a b", "c"], dimensions: 64 });
    expect(local.data.map((d) => d.embedding.length)).toEqual([64, 64]);
    const norm = Math.sqrt(local.data[0]!.embedding.reduce((s, x) => s + x * x, 0));
    expect(norm).toBeCloseTo(1, 5);
  });

  it("refuses token arrays and empty texts with 400 naming input", async () => {
    for (const input of [[1, 2, 3], [[1, 2]], "", [] as string[]]) {
      const err = await client()
        .embeddings.create({ model: "text-embedding-3-small", input: input as never, encoding_format: "float" })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({
        type: "invalid_request_error",
        param: expect.stringMatching(/^input/),
      });
    }
    const tokenErr = (await client()
      .embeddings.create({ model: "text-embedding-3-small", input: [1, 2, 3] as never, encoding_format: "float" })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.BadRequestError>;
    expect(tokenErr.message).toMatch(/token arrays/);
  });

  it("refuses a chat model for embeddings, and an unknown one with NotFoundError", async () => {
    await expect(client().embeddings.create({ model: "gpt-4o", input: "x" })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    const err = (await client()
      .embeddings.create({ model: "text-embedding-9", input: "x" })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.error).toMatchObject({ code: "model_not_found" });
  });

  it("lists the usable models in OpenAI's shape", async () => {
    const page = await client().models.list();
    const ids = page.data.map((m) => m.id);
    expect(ids).toEqual(
      expect.arrayContaining(["gpt-4o", "gpt-4.1", "claude-3-haiku-20240307", "text-embedding-3-small", "local-hash-384"]),
    );
    expect(new Set(ids).size).toBe(ids.length);
    const gpt4o = page.data.find((m) => m.id === "gpt-4o-2024-08-06")!;
    expect(gpt4o).toEqual({ id: "gpt-4o-2024-08-06", object: "model", created: Date.UTC(2024, 7, 6) / 1000, owned_by: "openai" });
    expect(page.data.find((m) => m.id === "local-hash-384")).toMatchObject({
      object: "model",
      owned_by: "local",
      created: expect.any(Number),
    });
    const raw = (await (await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${server.key}` } })).json()) as {
      object: string;
    };
    expect(raw.object).toBe("list");
  });

  it("retrieves one model by id (dots too) or alias; an unknown id is NotFoundError", async () => {
    expect(await client().models.retrieve("gpt-4.1")).toMatchObject({ id: "gpt-4.1", object: "model", owned_by: "openai" });
    expect(await client().models.retrieve("claude-3-haiku")).toMatchObject({ id: "claude-3-haiku-20240307", owned_by: "anthropic" });
    const err = (await client()
      .models.retrieve("gpt-nonesuch")
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.error).toMatchObject({ code: "model_not_found", param: "model" });
  });

  it("retrieves and serves a model whose id has a slash (sent as %2F, as the SDK does)", async () => {
    const entry = catalogueEntrySchema.parse({
      id: "meta-llama/Llama-3.1-8B-Instruct",
      name: "Llama 3.1 8B",
      provider: "openai",
      type: "chat",
      contextWindow: 8192,
      maxOutputTokens: 4096,
      price: { input: 0.1, output: 0.2 },
      capabilities: ["text-generation"],
    });
    await createModel(entry, "test");
    expect(await client().models.retrieve("meta-llama/Llama-3.1-8B-Instruct")).toMatchObject({
      id: "meta-llama/Llama-3.1-8B-Instruct",
      object: "model",
    });
    expect(server.emulator.requests).toHaveLength(0);
    const completion = await client().chat.completions.create({
      model: "meta-llama/Llama-3.1-8B-Instruct",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(completion.model).toBe("meta-llama/Llama-3.1-8B-Instruct");
  });
});
