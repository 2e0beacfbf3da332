// Entry point: `npm run dev` (with --dev) and `npm start`. Validates configuration, opens the
// database (applying migrations), prepares Next, and serves on PORT until SIGTERM or SIGINT.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { EnvError, loadEnv } from "../kernel/env.ts";
import { applyDotEnvFile } from "../kernel/dotenv.ts";
import { redactSecrets } from "../kernel/logger.ts";

const dev = process.argv.includes("--dev");
/** Serve only the API (the lean routes), without Next: a data-plane process, and fast to start in tests. */
const apiOnly = process.argv.includes("--api-only");
/** How long the shutdown hooks and closing may take after the grace period before the process exits regardless. */
const SHUTDOWN_BACKSTOP_MS = 15_000;

async function main(): Promise<void> {
  let env;
  try {
    applyDotEnvFile();
    // A self-hosted gateway does not report to Vercel's telemetry (and cannot reach it here).
    process.env.NEXT_TELEMETRY_DISABLED ??= "1";
    env = loadEnv();
  } catch (e) {
    if (e instanceof EnvError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  if (env.MODEL_SERVICE_CONFIG) {
    // The configuration file: refused at start-up with one line naming the path and the problem.
    const { ConfigFileError, loadConfigFile } = await import("../providers/config/config-file.ts");
    const { catalogueWithConfig } = await import("../features/catalogue/configured-catalogue.ts");
    const { shippedCatalogue } = await import("../features/catalogue/catalogue-data.ts");
    try {
      catalogueWithConfig(shippedCatalogue(), loadConfigFile(env.MODEL_SERVICE_CONFIG));
    } catch (e) {
      if (e instanceof ConfigFileError) {
        // The message names the path and the field, never a value (which may be a key).
        process.stderr.write(`${e.message}\n`);
        process.exit(1);
      }
      throw e;
    }
  }
  const { getLogger } = await import("../kernel/logger.ts");
  const log = getLogger();
  const { startHost } = await import("./server.ts");
  const app = apiOnly ? undefined : await prepareNext(env.HOST, env.PORT);

  const host = await startHost({
    port: env.PORT,
    host: env.HOST,
    log,
    fallback: app
      ? async (req, res) => {
          await app.ready;
          await app.handle(req, res);
        }
      : undefined,
  });
  await app?.ready;
  const { databaseKind } = await import("../db/index.ts");
  log.info({ url: host.url, dev, apiOnly, database: databaseKind() }, "Model Service listening");

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    // Every step of the shutdown is bounded (the grace period, each hook, closing the database);
    // this is the backstop if something still hangs, well inside an orchestrator's 45 s.
    setTimeout(() => {
      log.error({ afterMs: env.SHUTDOWN_GRACE_MS + SHUTDOWN_BACKSTOP_MS }, "shutdown did not finish in time: exiting now");
      process.exit(1);
    }, env.SHUTDOWN_GRACE_MS + SHUTDOWN_BACKSTOP_MS).unref();
    void host
      .shutdown(signal)
      .then(() => app?.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, "shutdown failed");
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

// The folder Next serves: the nearest one above this module holding a package.json (the repository
// when run from source as server/host/main.ts, .next/standalone when bundled as server/main.mjs).
function appRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) return process.cwd();
  }
}

async function prepareNext(hostname: string, port: number) {
  const { default: next } = await import("next");
  const dir = appRoot(path.dirname(fileURLToPath(import.meta.url)));
  const app = next({ dev, dir, hostname, port });
  return { ready: app.prepare(), handle: app.getRequestHandler(), close: () => app.close?.() };
}

main().catch((err: unknown) => {
  process.stderr.write(`Model Service failed to start: ${redactSecrets(err instanceof Error ? err.message : String(err))}\n`);
  process.exit(1);
});
