// The second half of `npm run build`, after `next build`: makes `.next/standalone` a complete
// production server, the whole of what the container image runs.
//
// Next's standalone output holds server.js, the compiled pages and routes, and the node_modules
// files they load (traced by Next). Our server entry (server/host/main.ts: migrations before listening,
// the lean API host, the SIGTERM drain and usage flush) and the CLI (server/cli/main.ts) are
// TypeScript run by tsx, which is neither traced nor wanted in production. Here esbuild compiles
// each into one ESM file, our sources inlined and npm packages left as imports:
//
//   .next/standalone/server/main.mjs   the entry `npm start` runs (the image's CMD)
//   .next/standalone/server/cli.mjs    the CLI `npm run cli --` runs (the Helm migration Job's command)
//
// and @vercel/nft (the tracer Next itself uses) lists the node_modules files they import, which
// are copied beside Next's. The packages stay shared with Next's route bundles (the same
// prom-client registry, the same PGlite module), as when tsx runs the sources. The "server-only"
// marker resolves to an empty module, as scripts/server-only-hook.mjs makes it under tsx.
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { nodeFileTrace } from "@vercel/nft";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const standalone = path.join(root, ".next", "standalone");
// Built outside .next first, so that tracing resolves packages from the project's node_modules
// and not from the partial copies in .next/standalone/node_modules.
const staging = path.join(root, ".bundle");

// server/main.mjs: server/host/main.ts behind scripts/standalone-server.ts (Next's configuration from the build).
export const ENTRIES = { "server/main": "scripts/standalone-server.ts", "server/cli": "server/cli/main.ts" };

async function main() {
  if (!existsSync(path.join(standalone, "server.js")))
    throw new Error(`no ${path.relative(root, standalone)}/server.js: run next build first (output: "standalone" in next.config.mjs)`);
  const started = Date.now();
  rmSync(staging, { recursive: true, force: true });
  await build({
    absWorkingDir: root,
    entryPoints: ENTRIES,
    outdir: staging,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    // The oldest Node the service supports (package.json's engines).
    target: "node20.18",
    packages: "external",
    // Bundled code that calls require() (CommonJS inside our sources' dependencies, if any).
    banner: { js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);' },
    plugins: [
      {
        name: "server-only",
        setup(b) {
          b.onResolve({ filter: /^server-only$/ }, () => ({ path: "server-only", namespace: "empty" }));
          b.onLoad({ filter: /.*/, namespace: "empty" }, () => ({ contents: "export {};", loader: "js" }));
        },
      },
    ],
    logLevel: "warning",
  });
  const outputs = Object.keys(ENTRIES).map((name) => path.join(staging, `${name}.mjs`));
  // Next itself is left to Next's own trace (server.js loads the same production server that
  // next() does): followed from here, every path it could take (the dev server, webpack, the
  // compilers) would come along, over 100 MB. Optional native drivers (pg-native) are not installed
  // and stay unresolved, as they do for Next.
  const { fileList, warnings } = await nodeFileTrace(outputs, {
    base: root,
    processCwd: root,
    ignore: (file) => /^node_modules\/(next|sharp|@img)\//.test(file),
  });
  if (process.env.BUNDLE_VERBOSE === "1") for (const w of warnings) process.stderr.write(`[bundle] trace: ${w.message}\n`);

  let copied = 0;
  for (const file of fileList) {
    if (!file.startsWith("node_modules/")) continue;
    const from = path.join(root, file);
    if (!statSync(from).isFile()) continue;
    const to = path.join(standalone, file);
    mkdirSync(path.dirname(to), { recursive: true });
    copyFileSync(from, to);
    copied++;
  }
  for (const output of outputs) {
    const to = path.join(standalone, path.relative(staging, output));
    mkdirSync(path.dirname(to), { recursive: true });
    copyFileSync(output, to);
  }
  rmSync(staging, { recursive: true, force: true });
  const sizes = Object.keys(ENTRIES).map(
    (name) => `${name}.mjs ${(statSync(path.join(standalone, `${name}.mjs`)).size / 1e6).toFixed(1)} MB`,
  );
  process.stdout.write(
    `[bundle] ${sizes.join(", ")}; ${copied} node_modules files traced into .next/standalone (${((Date.now() - started) / 1000).toFixed(1)}s)\n`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    process.stderr.write(`[bundle] ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
