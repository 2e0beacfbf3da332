// Which vector sizes an embedding model can make: its own (`embeddingDimensions`), and the sizes it
// can be asked for instead (`dimensions` of OpenAI's text-embedding-3, Gemini's and Vertex's
// output dimensionality, Titan v2's three sizes, any size for the local model). One rule for the
// service (a collection of another size is refused with a 400 before any provider is called) and
// the vectors page (which offers only the models that fit the chosen collection).

/** The sizes besides its own: a range, or a list. Absent: its own size only. */
export type EmbeddingResize = { min: number; max: number } | { sizes: number[] };

export type EmbeddingSizes = { dimensions: number | null; resize: EmbeddingResize | null };

/** Whether the model can make vectors of `size` dimensions. */
export function fitsSize(model: EmbeddingSizes, size: number): boolean {
  if (model.dimensions === size) return true;
  const r = model.resize;
  if (!r) return false;
  return "sizes" in r ? r.sizes.includes(size) : size >= r.min && size <= r.max;
}

/** "1536 dimensions (or 1 to 1536)", for messages. */
export function describeSizes(model: EmbeddingSizes): string {
  const own = model.dimensions === null ? "vectors of its own size" : `${model.dimensions} dimensions`;
  const r = model.resize;
  if (!r) return own;
  return `${own} (or ${"sizes" in r ? r.sizes.join(", ") : `${r.min} to ${r.max}`})`;
}
