// The usage records' vocabulary, shared by the usage statistics (server/features/usage) and the
// dashboard.

/** How a request ended: answered by the provider, failed, or answered from the response cache. */
export const USAGE_STATUSES = ["success", "error", "cached"] as const;
export type UsageStatus = (typeof USAGE_STATUSES)[number];

/** What a usage event paid for: text generation or embeddings. */
export const USAGE_KINDS = ["llm", "embedding"] as const;
export type UsageKind = (typeof USAGE_KINDS)[number];

/** A usage query's `kind` filter: one kind, or both. */
export const USAGE_KIND_FILTERS = ["all", ...USAGE_KINDS] as const;
export type UsageKindFilter = (typeof USAGE_KIND_FILTERS)[number];
