// Runs examples/client.ts, as a user would, against a real server process (the lean host, which
// serves /api/trpc too) with the provider emulator standing in for OpenAI. The example is started
// with plain `node --import tsx`, without the hook that makes "server-only" importable: had the
// client pulled any server module in at run time, that import would throw.
import { spawn } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startProviderEmulator, type ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { createKey, emulatorEnv, startServer, type Servers } from "@/tests/support/host.ts";

const KEY = "ms_example_client_key_0123456789abcd";
let emulator: ProviderEmulator;
let server: Servers;

beforeAll(async () => {
  emulator = await startProviderEmulator();
  server = await startServer({
    env: { ...emulatorEnv(emulator, ["openai"]), ANTHROPIC_API_KEY: "", QDRANT_URL: "", QDRANT_HOST: "" },
    // No scopes listed: every scope but admin, as a new key from the dashboard.
    seed: async (db) => void (await createKey(db, { name: "example", secret: KEY })),
  });
});

afterAll(async () => {
  await server?.dispose();
  await emulator?.close();
});

function runExample(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "examples/client.ts"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stdout, stderr })));
}

it("generates, embeds, creates a collection, upserts, searches and reads usage through the typed client", async () => {
  const { code, stdout, stderr } = await runExample({ MODEL_SERVICE_URL: server.url, MODEL_SERVICE_API_KEY: KEY });
  expect(stderr).toBe("");
  expect(code).toBe(0);
  const lines = stdout.trim().split("\n");

  // The emulator echoes the last user message and counts words as tokens.
  expect(lines).toContain('generate: gpt-4o-mini via openai: "You said: Name three uses of a vector database"');
  expect(lines).toContain("generate usage: 7 input, 9 output tokens, $0.00000645");
  expect(lines.some((l) => /^embed: 3 vectors of 384 dimensions with local-hash-384, \d+ tokens, \$0$/.test(l))).toBe(true);
  const created = /^collection: created (example-[a-z0-9]+) \(384 dimensions, Cosine, pgvector\)$/.exec(
    lines.find((l) => l.startsWith("collection: created")) ?? "",
  );
  expect(created).not.toBeNull();
  expect(lines).toContain("upsert: 3 points");
  // The lexical local model puts the document sharing the query's words first.
  const hits = lines.filter((l) => l.startsWith("search: "));
  expect(hits).toHaveLength(2);
  expect(hits[0]).toMatch(/^search: doc-1 score=0\.\d{4} "Vector databases store embeddings for similarity search"$/);
  expect(lines).toContain("search text: doc-2");
  expect(lines).toContain(`collection: deleted ${created![1]}`);

  // Usage: generate, two embedding calls and the text search's embedding, all recorded for this key.
  const usage = /^usage: (\d+) requests, (\d+) tokens, \$([\d.]+) from \d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2}$/.exec(
    lines.find((l) => l.startsWith("usage: ")) ?? "",
  );
  expect(usage).not.toBeNull();
  expect(Number(usage![1])).toBe(4);
  expect(lines).toContain("usage by model: gpt-4o-mini 1 requests, $0.00000645");
  expect(lines).toContain("usage by model: local-hash-384 3 requests, $0");

  // The server saw the calls on /api/trpc with the key as a Bearer token.
  expect(emulator.requests.some((r) => r.path === "/v1/chat/completions")).toBe(true);
});

it("exits with the service's error code when the key is wrong", async () => {
  const { code, stderr } = await runExample({
    MODEL_SERVICE_URL: server.url,
    MODEL_SERVICE_API_KEY: "ms_not_a_real_key_00000000000000000",
  });
  expect(code).toBe(1);
  expect(stderr).toMatch(/^error: .+ \(code unauthorized, request id [\w-]+\)\n$/);
});
