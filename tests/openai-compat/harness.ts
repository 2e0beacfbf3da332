// Shared by the compatibility tests (not a test file itself): our host in-process on port 0, on a
// fresh database of the given kind, talking to the provider emulator; API keys for the SDKs; the
// usage events a request recorded. The SDKs then drive our server exactly as they drive OpenAI's.
import { beforeAll } from "vitest";
import type { DatabaseKind } from "@/server/db/index.ts";
import type { ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { useHost } from "@/tests/support/host.ts";

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
  const host = useHost({
    database: kind,
    extraEnv,
    env: {
      RATE_LIMIT_REQUESTS: "10000",
      // Generous limits for every key, and a tiny one for basic-tier keys (the 429 tests).
      RATE_LIMITS: JSON.stringify({
        generate: "10000/minute",
        "generate-embeddings": "10000/minute",
        "tier:standard": "100000/hour",
        "tier:basic": "2/minute",
      }),
    },
  });
  let key = "";
  let basicKey = "";

  beforeAll(async () => {
    key = (await host.createKey({ name: "compat" })).key;
    basicKey = (await host.createKey({ name: "compat-basic", tier: "basic" })).key;
  });

  return {
    get url() {
      return host.url;
    },
    get key() {
      return key;
    },
    get basicKey() {
      return basicKey;
    },
    get emulator() {
      return host.emulator;
    },
    async events(requestId) {
      await host.flush();
      return host.db().rawQuery<UsageRow>(
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
