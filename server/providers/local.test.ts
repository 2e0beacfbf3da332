import { describe, expect, it } from "vitest";
import { countLocalTokens, embedText, LOCAL_EMBEDDING_DIMENSIONS, LOCAL_EMBEDDING_MODEL, LocalEmbeddingProvider } from "./local.ts";
import { ProviderError } from "./types.ts";

const cosine = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
const norm = (a: number[]) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));

// The first non-zero components of embedText("The quick brown fox"), recorded once.
const PINNED = [
  [3, 0.112757],
  [5, -0.112757],
  [16, -0.112757],
];

describe("local embedding provider", () => {
  const provider = new LocalEmbeddingProvider();

  it("embeds into 384 unit-length dimensions", async () => {
    const { embeddings, model } = await provider.generateEmbeddings({
      model: LOCAL_EMBEDDING_MODEL,
      texts: ["hello world", "a much longer text about vector search"],
    });
    expect(model).toBe(LOCAL_EMBEDDING_MODEL);
    expect(embeddings).toHaveLength(2);
    for (const e of embeddings) {
      expect(e).toHaveLength(LOCAL_EMBEDDING_DIMENSIONS);
      expect(norm(e)).toBeCloseTo(1, 10);
    }
  });

  it("is deterministic: the same text gives the same numbers, across calls and instances", async () => {
    const a = embedText("The quick brown fox");
    const b = (await new LocalEmbeddingProvider().generateEmbeddings({ model: LOCAL_EMBEDDING_MODEL, texts: ["The quick brown fox"] }))
      .embeddings[0];
    expect(b).toEqual(a);
    // A fixed value pins the hashing: changing the features silently would change every stored vector.
    const nonZero = a.flatMap((x, i) => (x !== 0 ? [[i, Number(x.toFixed(6))]] : [])).slice(0, 3);
    expect(nonZero).toEqual(PINNED);
  });

  it("puts texts that share words closer than unrelated ones", () => {
    const q = embedText("how do I reset my password");
    const near = embedText("reset your password from the account page");
    const far = embedText("the weather in Lisbon is sunny today");
    expect(cosine(q, near)).toBeGreaterThan(cosine(q, far) + 0.2);
    // Character n-grams make inflections overlap.
    expect(cosine(embedText("vectors"), embedText("vector"))).toBeGreaterThan(0.4);
    expect(cosine(embedText("vectors"), embedText("banana"))).toBeLessThan(0.2);
  });

  it("ignores case and Unicode compatibility forms", () => {
    expect(embedText("Ｈｅｌｌｏ WORLD")).toEqual(embedText("hello world"));
  });

  it("gives the zero vector for a text without words", () => {
    expect(embedText("  ...  ").every((x) => x === 0)).toBe(true);
  });

  it("honours `dimensions`", async () => {
    const { embeddings } = await provider.generateEmbeddings({ model: LOCAL_EMBEDDING_MODEL, texts: ["abc"], dimensions: 64 });
    expect(embeddings[0]).toHaveLength(64);
    await expect(provider.generateEmbeddings({ model: LOCAL_EMBEDDING_MODEL, texts: ["abc"], dimensions: 0 })).rejects.toMatchObject({
      kind: "invalid_request",
    });
  });

  it("counts tokens as word-like runs and symbols", async () => {
    expect(countLocalTokens("Hello, world! 42 apples")).toBe(6);
    expect(countLocalTokens("")).toBe(0);
    const { usage } = await provider.generateEmbeddings({ model: LOCAL_EMBEDDING_MODEL, texts: ["one two", "three"] });
    expect(usage.inputTokens).toBe(3);
  });

  it("refuses to generate text, as an invalid request", async () => {
    await expect(provider.generateText()).rejects.toBeInstanceOf(ProviderError);
    await expect(provider.generateText()).rejects.toMatchObject({ kind: "invalid_request", message: expect.stringMatching(/only embeds/) });
    const iterate = async () => {
      for await (const _ of provider.streamText()) void _;
    };
    await expect(iterate()).rejects.toMatchObject({ kind: "invalid_request" });
  });

  it("is always available and lists its one model", async () => {
    expect(provider.status()).toEqual({ available: true });
    expect(await provider.listModels()).toEqual([{ id: LOCAL_EMBEDDING_MODEL, type: "embedding" }]);
  });
});
