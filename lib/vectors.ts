// Vector collections' vocabulary, shared by the vector stores (server/vectors) and the dashboard's
// vectors page.

/** How a collection compares vectors (Qdrant's names; server/vectors/types.ts says what each scores). */
export const DISTANCES = ["Cosine", "Euclid", "Dot"] as const;
export type Distance = (typeof DISTANCES)[number];

/** A point id as typed: a whole number is an integer id, anything else a string id. */
export const pointId = (id: string): string | number => (/^\d+$/.test(id) ? Number(id) : id);

/** The documents of the add form: the text as one, or each non-empty line as its own with the id numbered (42 → 42, 43, …;
    doc → doc-1, doc-2, …), so that several are embedded in one call. */
export function documentsOf(idText: string, text: string, perLine: boolean): { id: string | number; text: string }[] {
  const id = idText.trim();
  if (!perLine) return [{ id: pointId(id), text }];
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.map((line, i) => ({ id: /^\d+$/.test(id) ? Number(id) + i : `${id}-${i + 1}`, text: line }));
}
