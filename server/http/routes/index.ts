import "server-only";
// Every Web handler that the lean node:http host serves itself, before Next's pipeline.
// The app/ route files re-export the same handlers, so both hosts answer alike.
import type { LeanRoute } from "../../host/node-adapter.ts";
import { health, ping } from "./health.ts";
import { llmGenerate } from "./llm.ts";
import { whoami } from "./auth.ts";
import { models } from "./models.ts";
import { vectorCollection, vectorCollections, vectorDocuments, vectorPoints, vectorSearch } from "./vectors.ts";
import { llmGenerateEmbeddings } from "./embeddings.ts";
import { chatCompletions, embeddings, openaiModelById, openaiModels } from "./openai.ts";
import { anthropicMessages } from "./anthropic.ts";
import { embeddingUsage, llmCost, llmUsage } from "./usage.ts";
import { llmSavings } from "./savings.ts";
import { metrics } from "./metrics.ts";
import { openApi } from "./openapi.ts";
import { trpc } from "./trpc.ts";

export const leanRoutes: readonly LeanRoute[] = [
  { pattern: "/health", handlers: health },
  { pattern: "/ping", handlers: ping },
  { pattern: "/v1/llm/generate", handlers: llmGenerate },
  { pattern: "/v1/auth/whoami", handlers: whoami },
  { pattern: "/v1/llm/models", handlers: models },
  { pattern: "/api/v1/models", handlers: models },
  { pattern: "/v1/vector/collections", handlers: vectorCollections },
  { pattern: "/v1/vector/collections/:name", handlers: vectorCollection },
  { pattern: "/v1/vector/points", handlers: vectorPoints },
  { pattern: "/v1/vector/search", handlers: vectorSearch },
  { pattern: "/v1/vector/documents", handlers: vectorDocuments },
  { pattern: "/v1/llm/generate-embeddings", handlers: llmGenerateEmbeddings },
  { pattern: "/v1/chat/completions", handlers: chatCompletions },
  { pattern: "/v1/embeddings", handlers: embeddings },
  { pattern: "/v1/models", handlers: openaiModels },
  { pattern: "/v1/models/:id", handlers: openaiModelById },
  { pattern: "/v1/messages", handlers: anthropicMessages },
  { pattern: "/v1/llm/usage", handlers: llmUsage },
  { pattern: "/v1/llm/embedding-usage", handlers: embeddingUsage },
  { pattern: "/v1/llm/cost", handlers: llmCost },
  { pattern: "/v1/llm/savings", handlers: llmSavings },
  { pattern: "/metrics", handlers: metrics },
  { pattern: "/v1/openapi.json", handlers: openApi },
  { pattern: "/api/trpc/:procedure", handlers: trpc },
];
