// Shared by the compatibility tests (not a test file itself): our host in-process on port 0, on a
// fresh database of the given kind, talking to the provider emulator; API keys for the SDKs; the
// usage events a request recorded. The SDKs then drive our server exactly as they drive OpenAI's.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, beforeEach } from "vitest";
import type { DatabaseKind } from "@/server/db/index.ts";
import { resetEnvForTests } from "@/server/kernel/env.ts";
import { startHost, type RunningHost } from "@/server/host/server.ts";
import { resetProvidersForTests } from "@/server/providers/registry.ts";
import { CLI_ACTOR } from "@/server/access/auth.ts";
import { resetCacheStoreForTests } from "@/server/features/inference/cache-store.ts";
import { setRetryPolicyForTests } from "@/server/features/inference/generation.ts";
import { createApiKey } from "@/server/features/accounts/keys.ts";
import { resetModelCatalogueForTests } from "@/server/features/catalogue/models.ts";
import { resetRateLimitersForTests } from "@/server/access/rate-limits.ts";
import { usageWriter } from "@/server/features/usage/usage.ts";
import { startProviderEmulator, type ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { useServiceDatabase } from "@/tests/support/service-db.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-compat-"));
Object.assign(process.env, {
  DATA_DIR: dataDir,
  LOG_LEVEL: "silent",
  RATE_LIMIT_REQUESTS: "10000",
  // Generous limits for every key, and a tiny one for basic-tier keys (the 429 tests).
  RATE_LIMITS: JSON.stringify({
    generate: "10000/minute",
    "generate-embeddings": "10000/minute",
    "tier:standard": "100000/hour",
    "tier:basic": "2/minute",
  }),
});
delete process.env.DATABASE_URL;
delete process.env.REDIS_URL;
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

export type UsageRow = {
  endpoint: string;
  status: string;
  error_code: string | null;
  model_id: string;
  provider: string;
  input_tokens: number;
  output_tokens: number;
  cached_input_tokens: number;
  reasoning_tokens: number;
  input_cost: string;
  output_cost: string;
  total_cost: string;
  stream: boolean;
};

export type CompatServer = {
  /** http://127.0.0.1:port */
  readonly url: string;
  /** A standard-tier key with every scope. */
  readonly key: string;
  /** A basic-tier key (2 requests a minute here). */
  readonly basicKey: string;
  readonly emulator: ProviderEmulator;
  /** The usage events recorded for a request id, after flushing the writer. */
  events(requestId: string): Promise<UsageRow[]>;
};

/** Registers the hooks of one describe block: database, emulator, host, keys. */
export function useCompatServer(kind: DatabaseKind, extraEnv?: (emulator: ProviderEmulator) => Record<string, string>): CompatServer {
  const { db } = useServiceDatabase(kind);
  let host: RunningHost | undefined;
  let emulator: ProviderEmulator | undefined;
  let key = "";
  let basicKey = "";

  beforeAll(async () => {
    emulator = await startProviderEmulator();
    Object.assign(process.env, {
      OPENAI_API_KEY: emulator.openaiKey!,
      OPENAI_BASE_URL: emulator.openaiBaseUrl,
      ANTHROPIC_API_KEY: emulator.anthropicKey!,
      ANTHROPIC_BASE_URL: emulator.anthropicBaseUrl,
      ...extraEnv?.(emulator),
    });
    resetEnvForTests();
    resetProvidersForTests();
    resetRateLimitersForTests();
    resetModelCatalogueForTests();
    resetCacheStoreForTests(); // the caches' entries belong to the previous block's database
    setRetryPolicyForTests({ baseDelayMs: 5, maxDelayMs: 20 });
    host = await startHost({ port: 0, host: "127.0.0.1", log: pino({ level: "silent" }) });
    key = (await createApiKey(CLI_ACTOR, { name: "compat" })).key;
    basicKey = (await createApiKey(CLI_ACTOR, { name: "compat-basic", tier: "basic" })).key;
  });

  // Not host.shutdown(): its hooks run once per process, and the next describe block (the other
  // database) still needs the usage writer. The database itself is dropped by useServiceDatabase.
  afterAll(async () => {
    if (host) {
      const closed = new Promise<void>((resolve) => host!.server.close(() => resolve()));
      host.server.closeAllConnections();
      await closed;
    }
    await usageWriter().flush();
    resetModelCatalogueForTests();
    await emulator?.close();
  });

  beforeEach(() => emulator?.reset());

  return {
    get url() {
      return host!.url;
    },
    get key() {
      return key;
    },
    get basicKey() {
      return basicKey;
    },
    get emulator() {
      return emulator!;
    },
    async events(requestId) {
      await usageWriter().flush();
      return db().rawQuery<UsageRow>(
        `select endpoint, status, error_code, model_id, provider, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens,
                input_cost::text, output_cost::text, total_cost::text, stream
           from usage_events where request_id = $1`,
        [requestId],
      );
    },
  };
}

/** Reads a raw SSE body into its frames: `{event?, data}` with data as text. */
export function sseFrames(text: string): { event?: string; data: string }[] {
  return text
    .split("\n\n")
    .filter((f) => f.trim())
    .map((f) => {
      const lines = f.split("\n");
      const event = lines.find((l) => l.startsWith("event: "))?.slice(7);
      const data = lines.find((l) => l.startsWith("data: "))?.slice(6) ?? "";
      return event ? { event, data } : { data };
    });
}
