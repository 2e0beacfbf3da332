// Using Model Service from another TypeScript program through the typed tRPC client:
// generate text, embed texts, create a vector collection, upsert and search, read usage.
//
//   MODEL_SERVICE_URL=http://localhost:8003 MODEL_SERVICE_API_KEY=ms_... npx tsx examples/client.ts
//
// Optional: MODEL_SERVICE_MODEL (default gpt-4o-mini, needs OPENAI_API_KEY on the server),
// MODEL_SERVICE_EMBEDDING_MODEL (default local-hash-384, the free built-in model).
// The key needs the scopes generate, embeddings, vectors and usage:read (a key without scopes has all).
import { TRPCClientError } from "@trpc/client";
import { createModelServiceClient, type RouterOutputs } from "model-service/client";

const url = process.env.MODEL_SERVICE_URL ?? "http://localhost:8003";
const apiKey = process.env.MODEL_SERVICE_API_KEY;
if (!apiKey) {
  console.error(
    "Set MODEL_SERVICE_API_KEY to an API key (ms_...); create one on the dashboard's keys page or with `npm run cli -- keys create --name example`.",
  );
  process.exit(2);
}
const chatModel = process.env.MODEL_SERVICE_MODEL ?? "gpt-4o-mini";
const embeddingModel = process.env.MODEL_SERVICE_EMBEDDING_MODEL ?? "local-hash-384";

const ms = createModelServiceClient(url, { apiKey });

async function main(): Promise<void> {
  const before = await ms.usage.stats.query({});

  // 1. Generate text.
  const out = await ms.generation.generate.mutate({
    model: chatModel,
    messages: [{ role: "user", content: "Name three uses of a vector database" }],
    maxTokens: 200,
  });
  console.log(`generate: ${out.model} via ${out.provider}: ${JSON.stringify(out.text)}`);
  console.log(`generate usage: ${out.usage.inputTokens} input, ${out.usage.outputTokens} output tokens, $${out.cost.total}`);

  // 2. Embed texts.
  const docs = [
    { id: "doc-1", text: "Vector databases store embeddings for similarity search" },
    { id: "doc-2", text: "A recipe for apple pie with cinnamon" },
    { id: "doc-3", text: "Rate limits protect the gateway from bursts of requests" },
  ];
  const emb = await ms.embeddings.generate.mutate({ model: embeddingModel, texts: docs.map((d) => d.text) });
  const dim = emb.embeddings[0]?.length ?? 0;
  console.log(
    `embed: ${emb.embeddings.length} vectors of ${dim} dimensions with ${emb.model}, ${emb.usage.inputTokens} tokens, $${emb.cost}`,
  );

  // 3. A vector collection: create, upsert, search (by vector, then by text), delete.
  const name = `example-${Date.now().toString(36)}`;
  const collection = await ms.vectors.create.mutate({ name, vectorSize: dim, distance: "Cosine" });
  console.log(
    `collection: created ${collection.name} (${collection.vectorSize} dimensions, ${collection.distance}, ${collection.backend})`,
  );
  try {
    const { upserted } = await ms.vectors.upsert.mutate({
      name,
      points: docs.map((d, i) => ({ id: d.id, vector: emb.embeddings[i]!, payload: { text: d.text } })),
    });
    console.log(`upsert: ${upserted} points`);

    const query = "similarity search over embeddings";
    const [queryVector] = (await ms.embeddings.generate.mutate({ model: embeddingModel, texts: [query] })).embeddings;
    const hits = await ms.vectors.search.mutate({ name, vector: queryVector!, limit: 2 });
    for (const hit of hits) console.log(`search: ${hit.id} score=${hit.score.toFixed(4)} ${JSON.stringify(hit.payload.text)}`);

    const byText = await ms.vectors.searchText.mutate({ name, text: "apple pie", model: embeddingModel, limit: 1 });
    console.log(`search text: ${byText.results[0]?.id ?? "(none)"}`);
  } finally {
    await ms.vectors.delete.mutate({ name });
    console.log(`collection: deleted ${name}`);
  }

  // 4. Usage. Calls are recorded in the background (within about a second), so wait for ours:
  // the generation, the two embedding calls and the text search's embedding.
  let stats: RouterOutputs["usage"]["stats"] = before;
  for (let i = 0; i < 50 && stats.totals.requests < before.totals.requests + 4; i++) {
    await new Promise((r) => setTimeout(r, 200));
    stats = await ms.usage.stats.query({});
  }
  const t = stats.totals;
  console.log(`usage: ${t.requests} requests, ${t.totalTokens} tokens, $${t.cost} from ${stats.range.start} to ${stats.range.end}`);
  for (const m of stats.breakdowns.model) console.log(`usage by model: ${m.value} ${m.requests} requests, $${m.cost}`);
}

main().catch((err: unknown) => {
  // TRPCClientError carries the service's error code and request id.
  if (err instanceof TRPCClientError) {
    const data = err.data as { appCode?: string | null; requestId?: string | null } | undefined;
    console.error(`error: ${err.message} (code ${data?.appCode ?? "?"}, request id ${data?.requestId ?? "?"})`);
  } else console.error(err);
  process.exit(1);
});
