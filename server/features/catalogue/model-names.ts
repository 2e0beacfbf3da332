import "server-only";
import { collator } from "./catalogue-rows.ts";

// ---------------------------------------------------------------------------------------------
// Suggestions for an unknown name

/** Up to three known names close to `query` (edit distance, or one containing the other). */
export function suggestNames(query: string, candidates: string[], canonical?: Map<string, string>): string[] {
  const q = query.toLowerCase();
  const limit = Math.max(2, Math.floor(q.length * 0.35));
  const scored: { name: string; score: number }[] = [];
  for (const name of candidates) {
    const n = name.toLowerCase();
    const d = editDistance(q, n, limit);
    const contains = q.length >= 3 && (n.includes(q) || q.includes(n));
    if (d <= limit || contains) scored.push({ name, score: d <= limit ? d : limit + 1 + Math.abs(n.length - q.length) / 100 });
  }
  scored.sort((a, b) => a.score - b.score || a.name.length - b.name.length || collator.compare(a.name, b.name));
  const out: string[] = [];
  const models = new Set<string>();
  for (const { name } of scored) {
    const model = canonical?.get(name) ?? name;
    if (models.has(model)) continue;
    models.add(model);
    out.push(name);
    if (out.length === 3) break;
  }
  return out;
}

/** Levenshtein distance, giving up (returning limit + 1) once it must exceed `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      row.push(v);
      if (v < best) best = v;
    }
    if (best > limit) return limit + 1;
    prev = row;
  }
  return prev[b.length]!;
}
