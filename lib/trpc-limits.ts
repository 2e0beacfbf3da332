// Shared by the server (server/api/trpc-handler.ts refuses more) and both tRPC clients (the
// dashboard's and `model-service/client`, whose batch links split larger batches), so a client
// of ours never sends a batch the server refuses.

/** Most calls in one tRPC batch request. */
export const TRPC_MAX_BATCH_SIZE = 16;
