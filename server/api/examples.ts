// The API reference's examples: one real request and its answer per operation, in
// examples.json, recorded from the service itself against the provider emulator and checked
// by tests/api/examples.test.ts (each request still answers 200 with an answer of that shape).
// openapi.ts puts them into the document as the media types' `example`; the reference page shows
// them and its "Try it" starts from them.
import examples from "./examples.json" with { type: "json" };

export type ApiExample = {
  request?: {
    /** Path parameters by name. */
    params?: Record<string, string>;
    /** The query string, without `?`. */
    query?: string;
    /** Headers beside the credential (attribution headers, say). */
    headers?: Record<string, string>;
    body?: unknown;
  };
  /** The JSON answer (long arrays shortened); none for a non-JSON answer. */
  response?: unknown;
};

/** Every operation, in the order the examples are recorded and checked (a collection before its points). */
export const EXAMPLE_ORDER = [
  "getHealth",
  "getPing",
  "getV1AuthWhoami",
  "getV1LlmModels",
  "getApiV1Models",
  "getV1Models",
  "getV1ModelsId",
  "postV1LlmGenerate",
  "postV1ChatCompletions",
  "postV1Messages",
  "postV1LlmGenerateEmbeddings",
  "postV1Embeddings",
  "postV1VectorCollections",
  "getV1VectorCollections",
  "postV1VectorPoints",
  "postV1VectorDocuments",
  "postV1VectorSearch",
  "getV1VectorCollectionsName",
  "deleteV1VectorPoints",
  "deleteV1VectorCollectionsName",
  "postV1LlmCost",
  "getV1LlmUsage",
  "getV1LlmEmbeddingUsage",
  "getV1LlmSavings",
  "getV1LlmRequests",
  "getV1LlmRequestsId",
  "getV1LlmRequestsExport",
  "getV1LlmSessionsId",
  "postV1Teams",
  "getV1Teams",
  "getV1TeamsTeam",
  "patchV1TeamsTeam",
  "postV1TeamsTeamMembers",
  "deleteV1TeamsTeamMembersEmail",
  "getV1AdminAudit",
  "getMetrics",
  "getV1OpenapiJson",
] as const;

const all = examples as Record<string, ApiExample>;

/** The example of an operation, if it has one. */
export function exampleOf(operationId: string): ApiExample | undefined {
  return all[operationId];
}
