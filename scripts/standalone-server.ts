// The server entry of `.next/standalone` (server/main.mjs there; the container image's CMD):
// server/host/main.ts itself, with Next's configuration taken from the build rather than from
// next.config.mjs. Next's own standalone server.js does the same (its configuration, from
// .next/required-server-files.json, in __NEXT_PRIVATE_STANDALONE_CONFIG): the standalone output
// carries only the parts of Next that serve a build, and reading next.config.mjs again would need
// more of them (and of our sources). scripts/bundle-server.mjs compiles this file.
import { readFileSync } from "node:fs";

const requiredServerFiles = new URL("../.next/required-server-files.json", import.meta.url);
const { config } = JSON.parse(readFileSync(requiredServerFiles, "utf8")) as { config: unknown };
process.env.__NEXT_PRIVATE_STANDALONE_CONFIG ??= JSON.stringify(config);

await import("../server/host/main.ts");
