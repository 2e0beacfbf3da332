// What the reliability suites share: real server processes (server/host/main.ts --api-only) behind
// fault proxies, requests through the REST API with their wall time measured against a deadline,
// and the usage rows they left, read straight from the database (not through the proxy).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { hashApiKey } from "@/server/access/key-lookup.ts";
import type { ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { startServerProcess, type ServerProcess } from "@/tests/support/server-process.ts";

/**
 * A generation with a known key needs neither the database nor Redis to answer, and the emulator
 * answers at once: tens of milliseconds on a quiet machine; the bound leaves room for a CI machine
 * running other suites beside this one. (Before the fixes: 500s after 9 to 10 s, or no answer.)
 */
export const GENERATE_DEADLINE_MS = 2_000;

/** A request that gets no answer at all within this long counts as hung (and fails its deadline). */
const GIVE_UP_MS = 20_000;

export type Answer = {
  id: string;
  status: number;
  /** Wall time from sending to the end of the body; GIVE_UP_MS when it never answered. */
  ms: number;
  code?: string;
  body: string;
};

export type Timed = { answers: Answer[]; worstMs: number };

let seq = 0;

/** A request id no other request of this run uses. */
export function requestId(label: string): string {
  return `${label}-${process.pid}-${++seq}`;
}

/** One request through the REST API; never throws (no answer is status 0 after GIVE_UP_MS). */
export async function send(
  url: string,
  init: { method?: string; path: string; key?: string; body?: unknown; label: string },
): Promise<Answer> {
  const id = requestId(init.label);
  const started = performance.now();
  try {
    const res = await fetch(`${url}${init.path}`, {
      method: init.method ?? (init.body === undefined ? "GET" : "POST"),
      headers: {
        ...(init.key ? { authorization: `Bearer ${init.key}` } : {}),
        ...(init.body === undefined ? {} : { "content-type": "application/json" }),
        "x-request-id": id,
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: AbortSignal.timeout(GIVE_UP_MS),
    });
    const body = await res.text();
    let code: string | undefined;
    try {
      code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
    } catch {
      // an event stream, or not JSON
    }
    return { id, status: res.status, ms: performance.now() - started, code, body };
  } catch (err) {
    return { id, status: 0, ms: performance.now() - started, body: String(err) };
  }
}

/** A chat generation through POST /v1/llm/generate (the emulator answers at once unless told otherwise). */
export function generate(url: string, key: string, label: string, content = "hello there", stream = false): Promise<Answer> {
  return send(url, {
    path: "/v1/llm/generate",
    key,
    label,
    body: { model: "gpt-4o-mini", stream, messages: [{ role: "user", content }] },
  });
}

/** `n` requests at `concurrency` at a time; the answers in order and the slowest wall time. */
export async function load(n: number, concurrency: number, one: (i: number) => Promise<Answer>): Promise<Timed> {
  const answers: Answer[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) {
        const i = next++;
        answers[i] = await one(i);
      }
    }),
  );
  return { answers, worstMs: Math.max(0, ...answers.map((a) => a.ms)) };
}

/** Answers over `deadlineMs`, for an assertion message that shows them. */
export function late(t: Timed, deadlineMs: number): string[] {
  return t.answers.filter((a) => a.status === 0 || a.ms > deadlineMs).map((a) => `${a.id}: ${a.status} after ${Math.round(a.ms)} ms`);
}

export type UsageRow = { request_id: string; status: string; error_code: string | null; output_tokens: number; stream: boolean };

/** Every usage row of the database at `databaseUrl` (read directly, never through a proxy). */
export async function usageRows(databaseUrl: string): Promise<UsageRow[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (
      await client.query<UsageRow>("SELECT request_id, status, error_code, output_tokens, stream FROM usage_events ORDER BY request_id")
    ).rows;
  } finally {
    await client.end();
  }
}

/** Polls `check` until it returns true (or throws after `timeoutMs` with what it last saw). */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Inserts an API key with every user scope straight into the database; returns its secret. */
export async function insertKey(databaseUrl: string, name: string, options: { admin?: boolean } = {}): Promise<string> {
  const secret = `ms_${name.replace(/[^A-Za-z0-9]/g, "")}${"0".repeat(32)}`.slice(0, 35);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO api_keys (id, name, prefix, key_hash, tier, scopes, is_admin, created_at)
       VALUES ($1, $2, $3, $4, 'premium', '{}', $5, now())`,
      [`key-${name}`, name, secret.slice(0, 11), hashApiKey(secret), options.admin ?? false],
    );
  } finally {
    await client.end();
  }
  return secret;
}

/** Environment for a server that calls the emulator for both providers, with limits generous enough for load. */
export function providerEnv(emulator: ProviderEmulator): Record<string, string> {
  return {
    OPENAI_API_KEY: emulator.openaiKey!,
    OPENAI_BASE_URL: emulator.openaiBaseUrl,
    ANTHROPIC_API_KEY: emulator.anthropicKey!,
    ANTHROPIC_BASE_URL: emulator.anthropicBaseUrl,
    RATE_LIMITS: '{"generate":"100000/minute","tier:premium":"100000/hour"}',
    RATE_LIMIT_REQUESTS: "100000",
  };
}

export type Server = ServerProcess & { dataDir: string; dispose: () => Promise<void> };

/** A server process on a DATA_DIR of its own; `dispose` stops it (SIGKILL after 30 s) and removes the folder. */
export async function startServer(env: Record<string, string>, dataDir?: string): Promise<Server> {
  const dir = dataDir ?? mkdtempSync(path.join(tmpdir(), "model-service-reliability-"));
  const server = await startServerProcess({ DATA_DIR: dir, LOG_FORMAT: "json", ...env });
  return {
    ...server,
    dataDir: dir,
    dispose: async () => {
      if (server.child.exitCode === null && server.child.signalCode === null) {
        server.child.kill("SIGTERM");
        const killer = setTimeout(() => server.child.kill("SIGKILL"), 30_000);
        await server.exited;
        clearTimeout(killer);
      }
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
