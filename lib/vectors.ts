// Vector collections' vocabulary, shared by the vector stores (server/vectors) and the dashboard's
// vectors page.

/** How a collection compares vectors (Qdrant's names; server/vectors/types.ts says what each scores). */
export const DISTANCES = ["Cosine", "Euclid", "Dot"] as const;
export type Distance = (typeof DISTANCES)[number];
