import "server-only";
// /v1/vector/*: the original service's vector endpoints (snake_case JSON), over the vector service.
//   POST|GET     /v1/vector/collections          create | list
//   GET|DELETE   /v1/vector/collections/{name}   get | delete
//   POST|DELETE  /v1/vector/points               upsert | delete by ids or payload filter
//   POST         /v1/vector/search               nearest points to query_vector, or to query_text embedded with model
//   POST         /v1/vector/documents            embed texts with model and upsert them (text kept in the payload)
import { z } from "zod";
import { safeString } from "../../kernel/validation.ts";
import type { Embedded } from "./vector-documents.ts";
import { DEFAULT_DOCUMENT_MODEL, searchByText, upsertDocuments } from "./vector-documents.ts";
import { usdNumber } from "../catalogue/index.ts";
import { vectorService, type CollectionInfo } from "./vectors.ts";
import { payloadFilterSchema } from "../../vectors/filter.ts";
import {
  collectionNameSchema,
  collectionOwnerSchema,
  distanceSchema,
  MAX_SEARCH_LIMIT,
  payloadSchema,
  pointIdSchema,
  pointSchema,
  vectorSchema,
  vectorSizeSchema,
  type ScoredPoint,
} from "../../vectors/types.ts";
import { endpoint, route } from "../../http/endpoint.ts";
import { VECTOR_SEARCH_POLICY, VECTORS_POLICY } from "./policies.ts";

/** A collection as the REST API shows it. */
export function toCollectionJson(c: CollectionInfo) {
  return {
    collection_name: c.name,
    owner: c.owner,
    vector_size: c.vectorSize,
    distance: c.distance,
    points_count: c.pointsCount,
    backend: c.backend,
    created_at: c.createdAt.toISOString(),
  };
}

export function toResultsJson(points: ScoredPoint[]) {
  return { results: points.map((p) => ({ id: p.id, score: p.score, payload: p.payload })) };
}

const ownerQuery = z.object({ owner: collectionOwnerSchema.optional() });

const createBody = z.object({
  collection_name: collectionNameSchema,
  vector_size: vectorSizeSchema,
  distance: distanceSchema.default("Cosine"),
});

const upsertBody = z.object({
  collection_name: safeString.min(1),
  owner: collectionOwnerSchema.optional(),
  // The count limit (413) is the service's; the body size limit (413) the wrapper's.
  points: z.array(pointSchema, { error: "an array of {id, vector, payload}" }),
});

const deleteBody = z
  .object({
    collection_name: safeString.min(1),
    owner: collectionOwnerSchema.optional(),
    ids: z.array(pointIdSchema).optional(),
    filter: payloadFilterSchema.optional(),
  })
  .refine((b) => (b.ids === undefined) !== (b.filter === undefined), { error: "send either ids or filter (one of them)", path: ["ids"] });

export const searchLimitSchema = z.number().int().min(1).max(MAX_SEARCH_LIMIT).default(10);

const searchBody = z
  .object({
    collection_name: safeString.min(1),
    owner: collectionOwnerSchema.optional(),
    query_vector: vectorSchema.optional(),
    query_text: safeString.min(1).max(100_000).optional(),
    /** The embedding model for query_text; local-hash-384 by default. */
    model: safeString.min(1).optional(),
    limit: searchLimitSchema,
    score_threshold: z.number().optional(),
    filter: payloadFilterSchema.optional(),
  })
  .refine((b) => (b.query_vector === undefined) !== (b.query_text === undefined), {
    error: `send either query_vector, or query_text (embedded with model, default ${DEFAULT_DOCUMENT_MODEL})`,
    path: ["query_vector"],
  });

const documentsBody = z.object({
  collection_name: safeString.min(1),
  owner: collectionOwnerSchema.optional(),
  model: safeString.min(1).optional(),
  documents: z.array(z.object({ id: pointIdSchema, text: safeString.max(100_000), payload: payloadSchema.nullish() }), {
    error: "an array of {id, text, payload}",
  }),
});

/** What an embedding cost, in the shape of /v1/llm/generate-embeddings. */
function embeddedJson(e: Embedded) {
  return {
    model: e.model,
    usage: { prompt_tokens: e.usage.inputTokens, total_tokens: e.usage.inputTokens },
    cost: usdNumber(e.cost.totalCost),
  };
}

export const vectorCollections = endpoint({
  POST: route({
    ...VECTORS_POLICY,
    doc: { summary: "Create a vector collection" },
    body: createBody,
    // 200 rather than 201: the original service answered 200, and its callers check for it.
    handler: async ({ body, identity }) =>
      toCollectionJson(
        await vectorService().createCollection(identity, {
          name: body.collection_name,
          vectorSize: body.vector_size,
          distance: body.distance,
        }),
      ),
  }),
  GET: route({
    ...VECTORS_POLICY,
    doc: { summary: "List the caller's vector collections" },
    handler: async ({ identity }) => ({ collections: (await vectorService().listCollections(identity)).map(toCollectionJson) }),
  }),
});

export const vectorCollection = endpoint({
  GET: route({
    ...VECTORS_POLICY,
    doc: { summary: "One vector collection" },
    query: ownerQuery,
    handler: async ({ params, query, identity }) =>
      toCollectionJson(await vectorService().getCollection(identity, params.name ?? "", query.owner)),
  }),
  DELETE: route({
    ...VECTORS_POLICY,
    doc: { summary: "Delete a vector collection with its points" },
    query: ownerQuery,
    handler: async ({ params, query, identity }) => {
      await vectorService().deleteCollection(identity, params.name ?? "", query.owner);
      return { collection_name: params.name, deleted: true };
    },
  }),
});

export const vectorPoints = endpoint({
  POST: route({
    ...VECTORS_POLICY,
    doc: { summary: "Upsert points into a collection" },
    body: upsertBody,
    handler: async ({ body, identity }) => {
      const { upserted } = await vectorService().upsertPoints(identity, body.collection_name, body.points, body.owner);
      return { collection_name: body.collection_name, status: "ok", upserted };
    },
  }),
  DELETE: route({
    ...VECTORS_POLICY,
    doc: { summary: "Delete points by ids or by payload filter" },
    body: deleteBody,
    handler: async ({ body, identity }) => {
      const selector = body.ids !== undefined ? { ids: body.ids } : { filter: body.filter! };
      const { deleted } = await vectorService().deletePoints(identity, body.collection_name, selector, body.owner);
      return { collection_name: body.collection_name, status: "ok", deleted };
    },
  }),
});

export const vectorSearch = endpoint({
  POST: route({
    ...VECTOR_SEARCH_POLICY,
    doc: { summary: "Nearest points to query_vector, or to query_text embedded with model" },
    body: searchBody,
    handler: async ({ body, identity, requestId, req }) => {
      const query = { limit: body.limit, scoreThreshold: body.score_threshold, filter: body.filter };
      if (body.query_text !== undefined) {
        const out = await searchByText(
          identity,
          body.collection_name,
          { ...query, text: body.query_text, model: body.model, owner: body.owner },
          { endpoint: "/v1/vector/search", requestId, signal: req.signal },
        );
        return { ...toResultsJson(out.results), ...embeddedJson(out) };
      }
      return toResultsJson(
        await vectorService().search(identity, body.collection_name, { ...query, vector: body.query_vector! }, body.owner),
      );
    },
  }),
});

export const vectorDocuments = endpoint({
  POST: route({
    ...VECTORS_POLICY,
    doc: { summary: "Embed documents' texts and upsert them as points (text kept in the payload)" },
    body: documentsBody,
    handler: async ({ body, identity, requestId, req }) => {
      const out = await upsertDocuments(
        identity,
        body.collection_name,
        { model: body.model, documents: body.documents, owner: body.owner },
        { endpoint: "/v1/vector/documents", requestId, signal: req.signal },
      );
      return { collection_name: body.collection_name, status: "ok", upserted: out.upserted, ...embeddedJson(out) };
    },
  }),
});
