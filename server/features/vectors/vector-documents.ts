import "server-only";
// Text in, vectors inside: documents embedded with a chosen model and stored as points (the text
// kept in the payload under "text"), and searches by query text. Neither Qdrant nor the original
// service offered these; they compose the embeddings service with the vector service. The
// default model is the built-in local one, so text search works with no key on a fresh clone.
import { AppError } from "../../kernel/errors.ts";
import { LOCAL_EMBEDDING_MODEL } from "../../providers/local.ts";
import type { Filter } from "../../vectors/filter.ts";
import { MAX_POINTS_PER_REQUEST, type CollectionRef, type Payload, type PointId, type ScoredPoint } from "../../vectors/types.ts";
import type { Identity } from "../../access/auth.ts";
import { generateEmbeddings, type EmbedContext, type EmbedOutcome } from "../inference/index.ts";
import { vectorService } from "./vectors.ts";

export const DEFAULT_DOCUMENT_MODEL = LOCAL_EMBEDDING_MODEL;
/** The payload key that holds a document's text. */
export const TEXT_PAYLOAD_KEY = "text";

export type DocumentInput = { id: PointId; text: string; payload?: Payload | null };
export type Embedded = Pick<EmbedOutcome, "model" | "usage" | "cost">;

/** A text with nothing the model could embed (no words, for the local model) cannot be compared by Cosine. */
function refuseEmpty(collection: CollectionRef, vector: number[], field: string): void {
  if (collection.distance === "Cosine" && vector.every((x) => x === 0)) {
    throw new AppError("invalid_request", `${field} has nothing the model can embed (no words)`, { field });
  }
}

/** Embeds each document's text and upserts it as a point whose payload carries the text. */
export async function upsertDocuments(
  identity: Identity,
  collectionName: string,
  input: { model?: string; documents: DocumentInput[]; owner?: string },
  ctx: EmbedContext,
): Promise<{ upserted: number } & Embedded> {
  if (input.documents.length > MAX_POINTS_PER_REQUEST) {
    throw new AppError(
      "payload_too_large",
      `At most ${MAX_POINTS_PER_REQUEST} documents per request; this one has ${input.documents.length}`,
      {
        limit: MAX_POINTS_PER_REQUEST,
        received: input.documents.length,
      },
    );
  }
  const vectors = vectorService();
  // The collection first: an unknown one is a 404 before anything is paid for.
  const collection = await vectors.describe(identity, collectionName, input.owner);
  const model = input.model ?? DEFAULT_DOCUMENT_MODEL;
  const embedded = await generateEmbeddings(
    identity,
    { model, texts: input.documents.map((d) => d.text), fitDimensions: collection.vectorSize },
    ctx,
  );
  embedded.embeddings.forEach((v, i) => refuseEmpty(collection, v, `documents[${i}].text`));
  const { upserted } = await vectors.upsertPoints(
    identity,
    collectionName,
    input.documents.map((d, i) => ({
      id: d.id,
      vector: embedded.embeddings[i]!,
      payload: { ...(d.payload ?? {}), [TEXT_PAYLOAD_KEY]: d.text },
    })),
    input.owner,
  );
  return { upserted, model: embedded.model, usage: embedded.usage, cost: embedded.cost };
}

/** Embeds the query text with the model and returns the nearest points. */
export async function searchByText(
  identity: Identity,
  collectionName: string,
  input: { model?: string; text: string; limit: number; scoreThreshold?: number; filter?: Filter; owner?: string },
  ctx: EmbedContext,
): Promise<{ results: ScoredPoint[] } & Embedded> {
  const vectors = vectorService();
  const collection = await vectors.describe(identity, collectionName, input.owner);
  const model = input.model ?? DEFAULT_DOCUMENT_MODEL;
  const embedded = await generateEmbeddings(identity, { model, texts: [input.text], fitDimensions: collection.vectorSize }, ctx);
  refuseEmpty(collection, embedded.embeddings[0]!, "query_text");
  const results = await vectors.search(
    identity,
    collectionName,
    {
      vector: embedded.embeddings[0]!,
      limit: input.limit,
      scoreThreshold: input.scoreThreshold,
      filter: input.filter,
    },
    input.owner,
  );
  return { results, model: embedded.model, usage: embedded.usage, cost: embedded.cost };
}
