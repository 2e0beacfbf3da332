import "server-only";
// Who may call generation and embeddings, and which limit counts them: one declaration that the
// REST routes (generate.rest.ts, embeddings.rest.ts, the compat surfaces in server/api/compat) and
// the tRPC procedures (generation.router.ts, embeddings.router.ts) all spread.
import type { AccessPolicy } from "../../access/policy.ts";

/** Paid text generation: POST /v1/llm/generate, /v1/chat/completions, /v1/messages, generation.*. */
export const GENERATE_POLICY = { access: "user", scope: "generate", rateLimit: "generate" } as const satisfies AccessPolicy;

/** Paid embeddings: POST /v1/llm/generate-embeddings, /v1/embeddings, embeddings.generate. */
export const EMBED_POLICY = { access: "user", scope: "embeddings", rateLimit: "generate-embeddings" } as const satisfies AccessPolicy;

/** Counting a prompt's tokens (the playground's live count): any caller, no provider reached. */
export const PROMPT_TOKENS_POLICY = { access: "user" } as const satisfies AccessPolicy;

/** What one of the caller's own calls cost, by request id (the playground after Stop). */
export const RUN_READ_POLICY = { access: "user", scope: "usage:read" } as const satisfies AccessPolicy;
