import path from "node:path";
import { fileURLToPath } from "node:url";
import type { NextConfig } from "next";
import { PHASE_PRODUCTION_BUILD } from "next/constants";
import { parseEnv } from "./server/env.ts";

// As in create-t3-app: validate configuration when Next loads its config, so that a bad value
// fails `next build` and start-up with the schema's one-line message instead of a stack trace.
// (A .ts config because Node 20 cannot import server/env.ts from next.config.mjs; Next transpiles
// this file and what it imports.)
try {
  parseEnv(process.env);
} catch (err) {
  if (!(err instanceof Error) || err.name !== "EnvError") throw err;
  console.error(err.message);
  process.exit(1);
}

const nextConfig: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // `npm run dev` is often opened as 127.0.0.1 rather than localhost; without this, Next 16 blocks
  // its dev resources (HMR) for that origin and the page never hydrates.
  allowedDevOrigins: ["127.0.0.1", "localhost"],
  // Loaded from node_modules at run time rather than bundled: the database drivers and their
  // wasm/data files, and clients that keep sockets. Runs in the same process as server/main.ts,
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
    // One metrics registry for the host and Next's bundles (server/services/metrics.ts).
    "prom-client",
    // A client that keeps sockets, with its own nested undici 6: loaded as installed, not re-bundled.
    "@qdrant/js-client-rest",
  ],
  // The embedded database lives under DATA_DIR (./.data by default): never trace it into a build.
  outputFileTracingExcludes: { "/*": ["./.data/**/*"] },
  // Read at run time from <cwd>/prisma/migrations (server/db/migrate.ts), which tracing cannot see.
  outputFileTracingIncludes: { "/*": ["./prisma/migrations/**/*"] },
  // This folder, not a parent Next might guess from another lockfile: keeps server.js at the
  // top of `.next/standalone`.
  outputFileTracingRoot: path.dirname(fileURLToPath(import.meta.url)),
};

// `next build` also writes `.next/standalone` (server.js and the traced node_modules), the base of
// the container image (Dockerfile). Set for the build only: `npm start` (server/main.ts) serves
// `.next` itself, and Next warns at start-up that `next start` does not fit a standalone config.
export default function config(phase: string): NextConfig {
  return phase === PHASE_PRODUCTION_BUILD ? { ...nextConfig, output: "standalone" } : nextConfig;
}
