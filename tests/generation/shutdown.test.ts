// Stopping the server with SIGTERM in the middle of a load: the requests it answered are exactly
// the usage events in the database afterwards — none lost in the writer's queue, none invented.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { openDatabase } from "@/server/db/index.ts";
import { hashApiKey } from "@/server/access/auth.ts";
import { startProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { startServerProcess } from "@/tests/support/server-process.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-sigterm-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const KEY = "ms_sigterm_test_key_0123456789abcdef";

it("finds exactly the answered requests in the database after SIGTERM mid-load", async () => {
  const emulator = await startProviderEmulator();
  const setup = await openDatabase({ dataDir });
  await setup.prisma.apiKey.create({ data: { name: "load", prefix: KEY.slice(0, 10), keyHash: hashApiKey(KEY), scopes: ["generate"] } });
  await setup.close();

  const server = await startServerProcess({
    DATA_DIR: dataDir,
    DATABASE_URL: "",
    REDIS_URL: "",
    RATE_LIMITS: '{"generate":"off","tier:standard":"off"}',
    OPENAI_API_KEY: emulator.openaiKey!,
    OPENAI_BASE_URL: emulator.openaiBaseUrl,
    ANTHROPIC_API_KEY: emulator.anthropicKey!,
    ANTHROPIC_BASE_URL: emulator.anthropicBaseUrl,
  });
  const url = server.url;

  const answered: string[] = [];
  const send = async (i: number) => {
    const id = `load-${i}`;
    const stream = i % 3 === 0;
    try {
      const res = await fetch(`${url}/v1/llm/generate`, {
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", "x-request-id": id },
        body: JSON.stringify({
          model: i % 2 ? "gpt-4o-mini" : "claude-3-haiku",
          stream,
          messages: [{ role: "user", content: `request ${i} [[emulator delay=${100 + (i % 5) * 60} chunk_delay=10]]` }],
        }),
      });
      const text = await res.text();
      if (res.status === 200 && (!stream || text.includes('"type":"done"'))) answered.push(id);
    } catch {
      // refused after the server stopped accepting: not answered
    }
  };

  // SIGTERM once the provider has seen 10 calls: those (at least) are in flight or done, so they
  // must be answered; requests sent after the listener closed are refused.
  const inFlight: Promise<void>[] = [];
  let signalled = false;
  for (let i = 0; i < 40; i++) {
    inFlight.push(send(i));
    if (!signalled && emulator.requests.length >= 10) {
      server.child.kill("SIGTERM");
      signalled = true;
    }
    await new Promise((r) => setTimeout(r, signalled ? 5 : 40));
  }
  if (!signalled) {
    await emulator.waitFor(() => emulator.requests.length >= 10, 60_000);
    server.child.kill("SIGTERM");
  }
  await Promise.all(inFlight);
  expect(await server.exited).toBe(0);
  expect(server.output()).toContain("shut down cleanly");
  await emulator.close();

  expect(answered.length).toBeGreaterThanOrEqual(10); // the ones in flight at SIGTERM finished
  expect(answered.length).toBeLessThan(40); // and the later ones were refused

  const after = await openDatabase({ dataDir });
  try {
    const rows = await after.rawQuery<{ request_id: string; status: string }>("select request_id, status from usage_events");
    expect(rows.map((r) => r.request_id).sort()).toEqual([...answered].sort());
    expect(rows.every((r) => r.status === "success")).toBe(true);
  } finally {
    await after.close();
  }
}, 120_000);
