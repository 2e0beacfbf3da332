import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@\//, replacement: `${root}/` },
      { find: /^server-only$/, replacement: `${root}/tests/support/empty-module.ts` },
    ],
  },
  test: {
    include: ["**/*.test.ts"],
    exclude: ["node_modules/**", "e2e/**", ".next/**", ".data/**", ".tools/**"],
    environment: "node",
    // Generous: a file's first PGlite open runs initdb, and CI shares 2 cores with servers it starts.
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // PGlite instances and servers are heavy on a 2-core machine: a few files at a time.
    maxWorkers: 2,
    globalSetup: ["tests/support/global-setup.ts"],
    // next-auth imports "next/server" without an extension, which Node's ESM resolver refuses: let
    // Vite resolve it (server/api/sessions.test.ts drives next-auth's own handlers).
    server: { deps: { inline: ["next-auth"] } },
  },
});
