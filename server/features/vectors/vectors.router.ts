import "server-only";
// tRPC vectors.*: the same vector service as /v1/vector/*, in camelCase.
import { z } from "zod";
import { safeString } from "../../kernel/validation.ts";
import { formatUsd } from "../catalogue/index.ts";
import { searchByText, upsertDocuments } from "./vector-documents.ts";
import { vectorService } from "./vectors.ts";
import { payloadFilterSchema } from "../../vectors/filter.ts";
import {
  collectionNameSchema,
  collectionOwnerSchema,
  DISTANCES,
  distanceSchema,
  MAX_SEARCH_LIMIT,
  payloadSchema,
  pointIdSchema,
  pointSchema,
  vectorSchema,
  vectorSizeSchema,
} from "../../vectors/types.ts";
import { createTRPCRouter, procedure } from "../../trpc/init.ts";
import { VECTOR_SEARCH_POLICY, VECTORS_POLICY } from "./policies.ts";

const vectorsProcedure = procedure(VECTORS_POLICY);
/** Searches count against `vector-search`, as POST /v1/vector/search does. */
const searchProcedure = procedure(VECTOR_SEARCH_POLICY);

const owner = collectionOwnerSchema.optional();
const nameInput = z.object({ name: safeString.min(1).max(256), owner });

export const collectionOutput = z.object({
  name: z.string(),
  /** `user:<id>` or `key:<id>`: names are unique per owner. */
  owner: z.string(),
  vectorSize: z.number(),
  distance: z.enum(DISTANCES),
  backend: z.enum(["pgvector", "qdrant"]),
  pointsCount: z.number().nullable(),
  createdAt: z.date(),
});

export const scoredPointOutput = z.object({
  id: z.union([z.string(), z.number()]),
  score: z.number(),
  payload: z.record(z.string(), z.unknown()),
});

/** The embedding model used, its tokens, and what it cost (an exact USD decimal string). */
const embeddedOutput = { model: z.string(), usage: z.object({ inputTokens: z.number() }), cost: z.string() };

export const searchInput = z.object({
  name: safeString.min(1),
  owner,
  vector: vectorSchema,
  limit: z.number().int().min(1).max(MAX_SEARCH_LIMIT).default(10),
  scoreThreshold: z.number().optional(),
  filter: payloadFilterSchema.optional(),
});

export const vectorsRouter = createTRPCRouter({
  /** The caller's collections (an admin's: all) with size, distance and point count. */
  list: vectorsProcedure
    .input(z.void())
    .output(z.array(collectionOutput))
    .query(({ ctx }) => vectorService().listCollections(ctx.identity)),

  get: vectorsProcedure
    .input(nameInput)
    .output(collectionOutput)
    .query(({ input, ctx }) => vectorService().getCollection(ctx.identity, input.name, input.owner)),

  create: vectorsProcedure
    .input(z.object({ name: collectionNameSchema, vectorSize: vectorSizeSchema, distance: distanceSchema.default("Cosine") }))
    .output(collectionOutput)
    .mutation(({ input, ctx }) => vectorService().createCollection(ctx.identity, input)),

  delete: vectorsProcedure
    .input(nameInput)
    .output(z.object({ deleted: z.literal(true) }))
    .mutation(async ({ input, ctx }) => {
      await vectorService().deleteCollection(ctx.identity, input.name, input.owner);
      return { deleted: true as const };
    }),

  upsert: vectorsProcedure
    .input(z.object({ name: safeString.min(1), owner, points: z.array(pointSchema) }))
    .output(z.object({ upserted: z.number() }))
    .mutation(({ input, ctx }) => vectorService().upsertPoints(ctx.identity, input.name, input.points, input.owner)),

  deletePoints: vectorsProcedure
    .input(
      z
        .object({ name: safeString.min(1), owner, ids: z.array(pointIdSchema).optional(), filter: payloadFilterSchema.optional() })
        .refine((i) => (i.ids === undefined) !== (i.filter === undefined), {
          error: "send either ids or filter (one of them)",
          path: ["ids"],
        }),
    )
    .output(z.object({ deleted: z.number() }))
    .mutation(({ input, ctx }) =>
      vectorService().deletePoints(
        ctx.identity,
        input.name,
        input.ids !== undefined ? { ids: input.ids } : { filter: input.filter! },
        input.owner,
      ),
    ),

  // A mutation although it changes nothing: a query would put the whole vector into the URL.
  search: searchProcedure
    .input(searchInput)
    .output(z.array(scoredPointOutput))
    .mutation(({ input, ctx }) => vectorService().search(ctx.identity, input.name, input, input.owner)),

  /** Embeds `text` with `model` (local-hash-384 by default) and returns the nearest points. */
  searchText: searchProcedure
    .input(
      z.object({
        name: safeString.min(1),
        owner,
        text: safeString.min(1).max(100_000),
        model: safeString.min(1).optional(),
        limit: z.number().int().min(1).max(MAX_SEARCH_LIMIT).default(10),
        scoreThreshold: z.number().optional(),
        filter: payloadFilterSchema.optional(),
      }),
    )
    .output(z.object({ results: z.array(scoredPointOutput), ...embeddedOutput }))
    .mutation(async ({ input, ctx, signal }) => {
      const out = await searchByText(ctx.identity, input.name, input, {
        endpoint: "trpc:vectors.searchText",
        requestId: ctx.requestId,
        signal,
      });
      return { ...out, cost: formatUsd(out.cost.totalCost) };
    }),

  /** Embeds each document's text and stores it as a point (the text kept in the payload as `text`). */
  upsertDocuments: vectorsProcedure
    .input(
      z.object({
        name: safeString.min(1),
        owner,
        model: safeString.min(1).optional(),
        documents: z.array(z.object({ id: pointIdSchema, text: safeString.max(100_000), payload: payloadSchema.nullish() })),
      }),
    )
    .output(z.object({ upserted: z.number(), ...embeddedOutput }))
    .mutation(async ({ input, ctx, signal }) => {
      const out = await upsertDocuments(ctx.identity, input.name, input, {
        endpoint: "trpc:vectors.upsertDocuments",
        requestId: ctx.requestId,
        signal,
      });
      return { ...out, cost: formatUsd(out.cost.totalCost) };
    }),

  count: vectorsProcedure
    .input(z.object({ name: safeString.min(1), owner, filter: payloadFilterSchema.optional() }))
    .output(z.number())
    .query(({ input, ctx }) => vectorService().count(ctx.identity, input.name, input.filter, input.owner)),
});
