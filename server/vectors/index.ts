import "server-only";
// The process's vector store, chosen by configuration: Qdrant when QDRANT_URL (or QDRANT_HOST) is
// set, otherwise pgvector in the service's own database.
import { getDatabase } from "../db/index.ts";
import { loadEnv } from "../kernel/env.ts";
import { PgVectorStore } from "./pgvector.ts";
import { QdrantVectorStore } from "./qdrant.ts";
import type { VectorStore } from "./types.ts";

const g = globalThis as unknown as { __modelServiceVectorStore?: VectorStore };

/** The store configuration asks for; a new instance on each call (tests, tools). */
export function createVectorStore(): VectorStore {
  const env = loadEnv();
  if (env.qdrantUrl) return new QdrantVectorStore({ url: env.qdrantUrl, apiKey: env.QDRANT_API_KEY });
  return new PgVectorStore({ db: getDatabase });
}

/** The process-wide store (on globalThis, so Next's route bundles share it). */
export function getVectorStore(): VectorStore {
  g.__modelServiceVectorStore ??= createVectorStore();
  return g.__modelServiceVectorStore;
}

/** For tests that switch configuration between cases. */
export function resetVectorStoreForTests(): void {
  g.__modelServiceVectorStore = undefined;
}

export type { VectorStore } from "./types.ts";
