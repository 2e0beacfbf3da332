// The rules of the Layout section of ../shared/DESIGN.md, as functions of the import graph.
import type { Edge } from "./imports.ts";

/** Layers inside server/, bottom up; a file imports only from its own layer's folder or a lower layer. */
export const LAYERS: readonly (readonly string[])[] = [
  ["kernel"],
  ["web"],
  ["db", "providers", "vectors"],
  ["access"],
  ["http", "trpc"],
  ["features"],
  ["api"],
  ["host", "cli"],
];

/** A feature imports only features before it, and only through their index.ts. */
export const FEATURE_ORDER = ["catalogue", "routing", "usage", "logs", "budgets", "inference", "accounts", "vectors", "system"] as const;

/** Lower peers a folder of the same layer may use (the vector stores keep their rows in the database). */
const PEERS: Record<string, readonly string[]> = { vectors: ["db"], providers: [] };

function serverFolder(file: string): string | null {
  const m = /^server\/([^/]+)\//.exec(file);
  return m ? m[1]! : null;
}

function layerOf(folder: string): number {
  return LAYERS.findIndex((l) => l.includes(folder));
}

function featureOf(file: string): string | null {
  const m = /^server\/features\/([^/]+)\//.exec(file);
  return m ? m[1]! : null;
}

const isTest = (f: string) => /\.test\.tsx?$/.test(f) || f.startsWith("tests/") || f.startsWith("e2e/");
const isRest = (f: string) => /\.rest(\.test)?\.ts$/.test(f);
const isRouter = (f: string) => /\.router(\.test)?\.ts$/.test(f);
const WEB_PACKAGES = /^(next(\/|$)|next-auth|@trpc\/|react(\/|$)|react-dom)/;

/** One line per broken rule: `from -> to: why`. */
export function violations(edges: readonly Edge[], packages: ReadonlyMap<string, readonly string[]>): string[] {
  const out: string[] = [];
  const bad = (e: Edge, why: string) => out.push(`${e.from}:${e.line} -> ${e.to}: ${why}`);
  for (const e of edges) {
    const fromDir = serverFolder(e.from);
    const toDir = serverFolder(e.to);
    // lib/ is isomorphic: it uses nothing of the server, the UI or the tests.
    if (e.from.startsWith("lib/") && !e.to.startsWith("lib/")) bad(e, "lib/ imports only lib/");
    // components: no server module; the API's types (AppRouter, the OpenAPI document's shape) only.
    if (e.from.startsWith("components/") && e.to.startsWith("server/")) {
      if (!e.typeOnly || !e.to.startsWith("server/api/")) bad(e, "components import types of server/api only");
    }
    // app/: pages and route files reach the server only through its composition layer.
    if (e.from.startsWith("app/") && toDir && toDir !== "api") bad(e, "app/ imports server/api only");
    if (!fromDir || !toDir || isTest(e.from)) continue;
    // server/: the layer order.
    const lf = layerOf(fromDir);
    const lt = layerOf(toDir);
    if (lf < 0) bad(e, `server/${fromDir} is not a layer of DESIGN.md`);
    else if (lt < 0) bad(e, `server/${toDir} is not a layer of DESIGN.md`);
    else if (lt > lf) bad(e, `server/${fromDir} (layer ${lf}) imports the higher layer server/${toDir} (${lt})`);
    else if (lt === lf && fromDir !== toDir && !(PEERS[fromDir] ?? []).includes(toDir))
      bad(e, `server/${fromDir} imports its peer server/${toDir}`);
    if (isTest(e.to)) bad(e, "code imports a test");
    // features: the feature order, through the index.
    const ff = featureOf(e.from);
    const ft = featureOf(e.to);
    if (ff && ft && ff !== ft) {
      const a = FEATURE_ORDER.indexOf(ff as (typeof FEATURE_ORDER)[number]);
      const b = FEATURE_ORDER.indexOf(ft as (typeof FEATURE_ORDER)[number]);
      if (a < 0) bad(e, `feature ${ff} is not in the feature order`);
      else if (b < 0 || b > a) bad(e, `feature ${ff} imports the later feature ${ft}`);
      if (e.to !== `server/features/${ft}/index.ts`) bad(e, `a feature imports another only through its index.ts`);
    }
    if (fromDir === "api" && ft && e.to !== `server/features/${ft}/index.ts`) bad(e, "server/api imports a feature through its index.ts");
    // features: HTTP only in *.rest.ts, tRPC only in *.router.ts.
    if (ff && toDir === "http" && !isRest(e.from)) bad(e, "only a feature's *.rest.ts uses the REST wrapper");
    if (ff && toDir === "trpc" && !isRouter(e.from)) bad(e, "only a feature's *.router.ts uses tRPC");
  }
  for (const [file, pkgs] of packages) {
    if (isTest(file)) continue;
    const dir = serverFolder(file);
    for (const p of pkgs) {
      if (!WEB_PACKAGES.test(p)) continue;
      const trpcOk = p.startsWith("@trpc/") && (dir === "trpc" || dir === "api" || (featureOf(file) && isRouter(file)));
      const nextOk = /^(next|next-auth)/.test(p) && dir === "api";
      if (dir && dir !== "host" && !trpcOk && !nextOk)
        out.push(`${file} imports ${p}: only server/api (Next), server/trpc and *.router.ts (tRPC) may`);
      if (file.startsWith("lib/")) out.push(`${file} imports ${p}: lib/ is plain TypeScript`);
    }
  }
  return out.sort();
}
