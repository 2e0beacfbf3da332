// The import graph of the repository's own code, read from the source text (static imports,
// re-exports, `import type`, dynamic `import()` and `vi.mock` paths), for tests/architecture.
import fs from "node:fs";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../..");
const SKIP = new Set(["node_modules", ".next", ".tools", ".git", ".data", "test-results", "generated", "playwright-report"]);
const SOURCE = /\.(ts|tsx|mts)$/;

export type Edge = { from: string; to: string; typeOnly: boolean; dynamic: boolean; line: number };

/** Every source file under `dirs` (paths relative to the root, with forward slashes). */
export function sourceFiles(dirs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (SKIP.has(e.name)) continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (SOURCE.test(e.name) && !e.name.endsWith(".d.ts")) out.push(path.relative(ROOT, p).split(path.sep).join("/"));
    }
  };
  for (const d of dirs) walk(path.join(ROOT, d));
  return out.sort();
}

const CANDIDATES = ["", ".ts", ".tsx", ".mts", "/index.ts", "/index.tsx"];

function resolve(spec: string, from: string): string | null {
  let base: string;
  if (spec.startsWith("@/")) base = path.join(ROOT, spec.slice(2));
  else if (spec.startsWith("./") || spec.startsWith("../")) base = path.resolve(path.dirname(path.join(ROOT, from)), spec);
  else return null;
  for (const ext of CANDIDATES) {
    const p = base + ext;
    if (fs.existsSync(p) && fs.statSync(p).isFile()) return path.relative(ROOT, p).split(path.sep).join("/");
  }
  return null;
}

// A comment is blanked before matching, so an import spelled in a comment is not an edge.
function stripComments(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, " "))
    .replace(/(^|[^:"'`\\])\/\/.*$/gm, (m, lead: string) => lead + " ".repeat(m.length - lead.length));
}

const STATIC = /\b(import|export)\s+(type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?["']([^"'\n]+)["']/g;
const DYNAMIC = /\b(?:import|vi\.mock|vi\.importActual|vi\.doMock)\s*(?:<[^>]*>)?\(\s*["']([^"'\n]+)["']/g;

/** The edges out of one file, to the repository's own files (packages are not edges here). */
export function importsOf(file: string): Edge[] {
  const text = stripComments(fs.readFileSync(path.join(ROOT, file), "utf8"));
  const lineOf = (index: number) => text.slice(0, index).split("\n").length;
  const edges: Edge[] = [];
  for (const m of text.matchAll(STATIC)) {
    const to = resolve(m[3]!, file);
    if (to) edges.push({ from: file, to, typeOnly: Boolean(m[2]) || /^import\s+type\b/.test(m[0]), dynamic: false, line: lineOf(m.index) });
  }
  for (const m of text.matchAll(DYNAMIC)) {
    const to = resolve(m[1]!, file);
    if (to) edges.push({ from: file, to, typeOnly: false, dynamic: true, line: lineOf(m.index) });
  }
  return edges;
}

/** Packages a file imports (bare specifiers), for the rules about Next, tRPC and React. */
export function packagesOf(file: string): string[] {
  const text = stripComments(fs.readFileSync(path.join(ROOT, file), "utf8"));
  const out: string[] = [];
  for (const m of text.matchAll(STATIC)) if (!/^(\.|@\/)/.test(m[3]!)) out.push(m[3]!);
  return out;
}

/** Import cycles among `files`: each as the list of files around it (static and dynamic edges alike). */
export function cycles(edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    if (e.typeOnly) continue; // a type-only import is erased: it cannot make a load-order cycle
    next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  }
  // Tarjan's strongly connected components; a component of two or more files is a cycle.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of next.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) found.push(comp.sort());
    }
  };
  for (const v of next.keys()) if (!idx.has(v)) visit(v);
  return found;
}
