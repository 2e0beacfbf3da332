// `.env` support for the entry points (server/host/main.ts, the CLI). Kept apart from env.ts, which
// Next bundles, so that the bundles do not trace file-system reads of the working directory.
import { existsSync, readFileSync } from "node:fs";
import { parseEnv as parseDotEnv } from "node:util";

/** Reads `.env` from the working directory into process.env; variables already set win. */
export function applyDotEnvFile(file = ".env"): void {
  if (!existsSync(file)) return;
  const values = parseDotEnv(readFileSync(file, "utf8"));
  for (const [k, v] of Object.entries(values)) if (process.env[k] === undefined) process.env[k] = v;
}
