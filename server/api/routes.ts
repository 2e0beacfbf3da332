import "server-only";
// Every Web handler that the lean node:http host serves itself, before Next's pipeline, and the
// OpenAPI document built from them. The app/ route files re-export the same handlers from here,
// so both hosts answer alike.
import type { LeanRoute } from "../web/handler.ts";
import { endpoint, json, noEndpoint, route } from "../http/endpoint.ts";
import { openApiDocument } from "./openapi.ts";
import { health, ping } from "../features/system/index.ts";
import { llmGenerate } from "../features/inference/index.ts";
import { adminAudit, team, teamMember, teamMembers, teams, whoami } from "../features/accounts/index.ts";
import { models } from "../features/catalogue/index.ts";
import { vectorCollection, vectorCollections, vectorDocuments, vectorPoints, vectorSearch } from "../features/vectors/index.ts";
import { llmGenerateEmbeddings } from "../features/inference/index.ts";
import { chatCompletions, embeddings, openaiModelById, openaiModels } from "./compat/openai.rest.ts";
import { anthropicMessages } from "./compat/anthropic.rest.ts";
import { embeddingUsage, llmCost, llmUsage } from "../features/usage/index.ts";
import { llmRequest, llmRequests, llmRequestsExport, llmSavings, llmSession } from "../features/usage/index.ts";
import { metrics } from "../features/system/index.ts";
import { trpc } from "./trpc.rest.ts";

/** GET /v1/openapi.json: the OpenAPI 3.1 document of the REST API (public: it holds no secrets). */
export const openApi = endpoint({
  GET: route({
    access: "public",
    doc: { summary: "This document: OpenAPI 3.1 for every REST endpoint (public)" },
    handler: async () => json(openApiDocument(leanRoutes), { headers: { "Cache-Control": "public, max-age=300" } }),
  }),
});

export const leanRoutes: readonly LeanRoute[] = [
  { pattern: "/health", handlers: health },
  { pattern: "/ping", handlers: ping },
  { pattern: "/v1/llm/generate", handlers: llmGenerate },
  { pattern: "/v1/auth/whoami", handlers: whoami },
  { pattern: "/v1/admin/audit", handlers: adminAudit },
  { pattern: "/v1/teams", handlers: teams },
  { pattern: "/v1/teams/:team", handlers: team },
  { pattern: "/v1/teams/:team/members", handlers: teamMembers },
  { pattern: "/v1/teams/:team/members/:email", handlers: teamMember },
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
  { pattern: "/v1/llm/requests", handlers: llmRequests },
  { pattern: "/v1/llm/requests/export", handlers: llmRequestsExport },
  { pattern: "/v1/llm/requests/:id", handlers: llmRequest },
  { pattern: "/v1/llm/sessions/:id", handlers: llmSession },
  { pattern: "/metrics", handlers: metrics },
  { pattern: "/v1/openapi.json", handlers: openApi },
  { pattern: "/api/trpc/:procedure", handlers: trpc },
];

export {
  adminAudit,
  anthropicMessages,
  chatCompletions,
  embeddingUsage,
  embeddings,
  health,
  llmCost,
  llmGenerate,
  llmGenerateEmbeddings,
  llmRequest,
  llmRequests,
  llmRequestsExport,
  llmSavings,
  llmSession,
  llmUsage,
  metrics,
  models,
  noEndpoint,
  openaiModelById,
  openaiModels,
  ping,
  team,
  teamMember,
  teamMembers,
  teams,
  trpc,
  vectorCollection,
  vectorCollections,
  vectorDocuments,
  vectorPoints,
  vectorSearch,
  whoami,
};
