// A collection's size and the embedding model: a model that cannot make vectors of the
// collection's size is refused with a 400 naming both sizes before any provider is called (a
// query_text search, documents, REST and tRPC alike; before, the call was paid for and either
// failed at the provider or searched with vectors of another space). A model that can be asked for
// that size (text-embedding-3's `dimensions`, the local model's any size up to 2,000) is asked.
// `dimensions` on /v1/embeddings is checked the same way.
import { describe, expect, it } from "vitest";
import { NO_RATE_LIMITS, useHost } from "@/tests/support/host.ts";

describe("embedding models and collection sizes", () => {
  const host = useHost({ env: { ...NO_RATE_LIMITS } });
  let key = "";
  const embeddingCalls = () => host.emulator.requests.filter((r) => r.path.endsWith("/embeddings"));

  async function post(route: string, body: unknown) {
    if (!key) key = (await host.createKey({ name: "fit", tier: "premium" })).key;
    const res = await fetch(`${host.url}${route}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  it("refuses a model that cannot make the collection's size, naming both, before any provider call", async () => {
    expect((await post("/v1/vector/collections", { collection_name: "fit-1000", vector_size: 1000 })).status).toBe(200);
    host.emulator.reset();
    const search = await post("/v1/vector/search", { collection_name: "fit-1000", model: "text-embedding-ada-002", query_text: "hello" });
    expect(search.status).toBe(400);
    expect(search.body.detail ?? search.body.error?.message ?? JSON.stringify(search.body)).toMatch(
      /collection has 1000 dimensions and text-embedding-ada-002 makes 1536 dimensions/,
    );
    const documents = await post("/v1/vector/documents", {
      collection_name: "fit-1000",
      model: "text-embedding-ada-002",
      documents: [{ id: 1, text: "one" }],
    });
    expect(documents.status).toBe(400);
    expect(embeddingCalls()).toHaveLength(0);

    // The local model makes any size up to 2,000: not 3,000.
    expect((await post("/v1/vector/collections", { collection_name: "fit-3000", vector_size: 3000 })).status).toBe(200);
    const local = await post("/v1/vector/search", { collection_name: "fit-3000", query_text: "hello" });
    expect(local.status).toBe(400);
    expect(JSON.stringify(local.body)).toContain("or 1 to 2000");
  });

  it("asks a model that can be shortened for the collection's size", async () => {
    host.emulator.reset();
    const added = await post("/v1/vector/documents", {
      collection_name: "fit-1000",
      model: "text-embedding-3-small",
      documents: [{ id: 1, text: "one two" }],
    });
    expect(added.status).toBe(200);
    expect(embeddingCalls().map((r) => (r.body as { dimensions?: number }).dimensions)).toEqual([1000]);
    const found = await post("/v1/vector/search", { collection_name: "fit-1000", model: "text-embedding-3-small", query_text: "one two" });
    expect(found.status).toBe(200);
    expect(found.body.results?.[0]?.id ?? found.body[0]?.id).toBe(1);
  });

  it("checks dimensions on /v1/embeddings the same way", async () => {
    host.emulator.reset();
    const refused = await post("/v1/embeddings", { model: "text-embedding-ada-002", input: "x", dimensions: 512 });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toContain("dimensions: text-embedding-ada-002 cannot make 512");
    expect(embeddingCalls()).toHaveLength(0);
    const ok = await post("/v1/embeddings", { model: "text-embedding-3-small", input: "x", dimensions: 512 });
    expect(ok.status).toBe(200);
    expect(ok.body.data[0].embedding).toHaveLength(512);
  });
});
