// @ts-check
import path from "node:path";
import { fileURLToPath } from "node:url";

// As in create-t3-app: validate configuration when Next loads its config, so that a bad value
// fails `next build` and start-up with the schema's one-line message instead of a stack trace.
// server/kernel/env.ts is TypeScript, imported as it is: Node 22.18+ and 24 strip its types natively
// (the file keeps to erasable syntax for that). Node 20 cannot, and falls back to tsx's loader
// (a dependency), so `next build` and `npm start` work there too.
const { parseEnv } = await import("./server/kernel/env.ts").catch(async (/** @type {any} */ err) => {
  if (err?.code !== "ERR_UNKNOWN_FILE_EXTENSION") throw err;
  const { tsImport } = await import("tsx/esm/api");
  return tsImport("./server/kernel/env.ts", import.meta.url);
});
try {
  parseEnv(process.env);
} catch (err) {
  if (!(err instanceof Error) || err.name !== "EnvError") throw err;
  console.error(err.message);
  process.exit(1);
}

/** @type {import("next").NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // `npm run dev` is often opened as 127.0.0.1 rather than localhost; without this, Next 16 blocks
  // its dev resources (HMR) for that origin and the page never hydrates.
  allowedDevOrigins: ["127.0.0.1", "localhost"],
  // No next/image anywhere: nothing to optimise, so the image optimiser's sharp (about 20 MB of
  // native libraries) stays out of the standalone output and the container image.
  images: { unoptimized: true },
  // Loaded from node_modules at run time rather than bundled: the database drivers and their
  // wasm/data files, and clients that keep sockets. Runs in the same process as server/host/main.ts,
  // which imports the same copies. (pg, pino and @prisma/client are on Next's own list already.)
  serverExternalPackages: [
    "@electric-sql/pglite",
    "@electric-sql/pglite-socket",
    "pglite-prisma-adapter",
    "@prisma/adapter-pg",
    "pg",
    "pino",
    "ioredis",
    "undici",
    // One metrics registry for the host and Next's bundles (server/kernel/metrics.ts).
    "prom-client",
    // A client that keeps sockets, with its own nested undici 6: loaded as installed, not re-bundled.
    "@qdrant/js-client-rest",
    // Its encodings are megabytes of tables: one copy on disk (and in memory) for every route bundle
    // and the server entry, instead of one inlined into each page chunk that counts tokens.
    "gpt-tokenizer",
  ],
  outputFileTracingExcludes: {
    // The embedded database lives under DATA_DIR (./.data by default): never trace it into a build.
    "/*": ["./.data/**/*"],
    // Next's own server (the key Next matches for it); see `images` above.
    "next-server": ["**/node_modules/sharp/**/*", "**/node_modules/@img/**/*"],
  },
  // Read at run time from <cwd>/prisma/migrations (server/db/migrate.ts), which tracing cannot see.
  outputFileTracingIncludes: { "/*": ["./prisma/migrations/**/*"] },
  // This folder, not a parent Next might guess from another lockfile: keeps server.js at the
  // top of `.next/standalone`.
  outputFileTracingRoot: path.dirname(fileURLToPath(import.meta.url)),
};

// `next build` also writes `.next/standalone` (server.js and the traced node_modules), the base of
// the container image (Dockerfile). Set for the build only: `npm start` (server/host/main.ts) serves
// `.next` itself, and Next warns at start-up that `next start` does not fit a standalone config.
// ("phase-production-build" is next/constants' PHASE_PRODUCTION_BUILD, written out: the container
// image carries only the parts of Next its server loads, and constants.js is not one of them.)
/** @param {string} phase */
export default function config(phase) {
  return phase === "phase-production-build" ? { ...nextConfig, output: /** @type {const} */ ("standalone") } : nextConfig;
}
