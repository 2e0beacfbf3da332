// The layout of ../shared/DESIGN.md, enforced on the import graph: the layer order inside server/,
// the feature order, index-only imports between features, HTTP and tRPC only in a feature's
// *.rest.ts and *.router.ts, no server module in components (types of the API surface only), app/
// reaching the server only through server/api, and no import cycle anywhere.
import { describe, expect, it } from "vitest";
import { cycles, importsOf, packagesOf, sourceFiles, type Edge } from "./imports.ts";
import { FEATURE_ORDER, violations } from "./rules.ts";

const files = sourceFiles(["server", "app", "components", "lib", "client", "tests", "bench", "scripts", "e2e"]);
const edges: Edge[] = files.flatMap(importsOf);
const packages = new Map(files.map((f) => [f, packagesOf(f)]));

describe("architecture", () => {
  it("reads a real graph (the rules are not vacuous)", () => {
    expect(files.length).toBeGreaterThan(150);
    expect(edges.length).toBeGreaterThan(500);
    // Every feature of the order that exists has an index.
    for (const f of FEATURE_ORDER) {
      if (files.some((x) => x.startsWith(`server/features/${f}/`))) expect(files).toContain(`server/features/${f}/index.ts`);
    }
  });

  it("keeps the layer order, the feature order and the edge rules", () => {
    expect(violations(edges, packages)).toEqual([]);
  });

  it("has no import cycle", () => {
    expect(cycles(edges)).toEqual([]);
  });
});
