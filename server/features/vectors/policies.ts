import "server-only";
// Who may use the vector collections, and which limit counts a search: one declaration that the
// REST routes (vectors.rest.ts) and the tRPC procedures (vectors.router.ts) both spread.
import type { AccessPolicy } from "../../access/policy.ts";

/** Collections, points and documents. */
export const VECTORS_POLICY = { access: "user", scope: "vectors" } as const satisfies AccessPolicy;

/** Searches, by vector or by text: their own rate limit. */
export const VECTOR_SEARCH_POLICY = { ...VECTORS_POLICY, rateLimit: "vector-search" } as const satisfies AccessPolicy;
