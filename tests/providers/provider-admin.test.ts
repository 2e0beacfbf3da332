// The Providers page's procedures (tRPC providers.list / providers.test) over a booted host, on
// PGlite (and PostgreSQL when TEST_DATABASE_URL is set): every provider of the environment pointed
// at the emulators with the vendors' own variable names, each listed with its type and source, and
// each connection test a real call through the vendor's SDK to its list endpoint (the emulator's
// log says which); a failure is an answer with the error, and becomes the provider's last error,
// which never holds the key. `headers` of the dashboard's OpenAI-compatible providers reach the server.
import { beforeAll, describe, expect, it } from "vitest";
import { CLI_ACTOR } from "@/server/access/auth.ts";
import { getDatabase } from "@/server/db/index.ts";
import { createApiKey } from "@/server/features/accounts/keys.ts";
import { testProviderConnection } from "@/server/features/catalogue/providers.ts";
import { parseConfigFile, providersFromConfig } from "@/server/providers/config/config-file.ts";
import { lastProviderError } from "@/server/providers/last-errors.ts";
import { registerProvider, resetProvidersForTests } from "@/server/providers/registry.ts";
import { startProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { useCompatServer } from "../openai-compat/harness.ts";
import { cloudEmulatorEnv } from "@/tests/support/host.ts";

type Listed = {
  id: string;
  name: string;
  type: string;
  source: string;
  available: boolean;
  reason: string | null;
  lastError: { message: string; kind: string; status: number | null; at: string } | null;
  stored: { secretTail: string } | null;
};
type Tested = { id: string; ok: boolean; latencyMs: number; error: { kind: string; message: string } | null };

/** Each environment provider's type, and the request its connection test makes to the emulator. */
const TESTS = [
  { id: "openai", type: "openai", protocol: "openai", method: "GET", path: "/v1/models" },
  { id: "anthropic", type: "anthropic", protocol: "anthropic", method: "GET", path: "/v1/models" },
  { id: "azure-openai", type: "azure-openai", protocol: "azure", method: "GET", path: "/openai/models" },
  { id: "bedrock", type: "bedrock", protocol: "bedrock", method: "GET", path: "/async-invoke" },
  { id: "gemini", type: "gemini", protocol: "gemini", method: "GET", path: "/v1beta/models" },
  { id: "vertex", type: "vertex", protocol: "vertex", method: "GET", path: "/v1beta1/publishers/google/models" },
] as const;

describe.each(testDatabases())("the Providers page's procedures on $kind", ({ kind }) => {
  const server = useCompatServer(kind, cloudEmulatorEnv);
  let admin = "";
  beforeAll(async () => {
    admin = (await createApiKey(CLI_ACTOR, { name: "provider-admin", isAdmin: true })).key;
  });
  const trpc = async (procedure: string, input?: unknown, key = admin) => {
    const query = procedure === "providers.list";
    const res = await fetch(`${server.url}/api/trpc/${procedure}`, {
      method: query ? "GET" : "POST",
      headers: { authorization: `Bearer ${key}`, ...(query ? {} : { "content-type": "application/json" }) },
      ...(query ? {} : { body: JSON.stringify({ json: input }) }),
    });
    const text = await res.text();
    return { status: res.status, text, data: res.status === 200 ? (JSON.parse(text).result.data.json as unknown) : undefined };
  };
  const list = async () => (await trpc("providers.list")).data as Listed[];
  const test = async (id: string) => {
    const r = await trpc("providers.test", { id });
    expect(r.status, r.text).toBe(200);
    return r.data as Tested;
  };

  it("lists every provider with its type, source and status; none has a last error yet", async () => {
    const providers = new Map((await list()).map((p) => [p.id, p]));
    for (const t of TESTS) {
      expect(providers.get(t.id), t.id).toMatchObject({
        type: t.type,
        source: "environment",
        available: true,
        lastError: null,
        stored: null,
      });
    }
    expect(providers.get("local")).toMatchObject({ type: "local", source: "environment", available: true });
  });

  it.each(TESTS)("tests $id with a real call through its SDK: $method $path on the emulator", async (t) => {
    const before = server.emulator.requests.length;
    const r = await test(t.id);
    expect(r).toMatchObject({ id: t.id, ok: true, error: null });
    expect(r.latencyMs).toBeGreaterThanOrEqual(0);
    expect(r.latencyMs).toBeLessThan(10_000);
    const made = server.emulator.requests.slice(before).filter((q) => q.protocol === t.protocol);
    expect(made.map((q) => `${q.method} ${q.path}`)).toEqual([`${t.method} ${t.path}`]);
    expect(made[0]!.status).toBe(200);
  });

  it("tests the local provider without any network call", async () => {
    const before = server.emulator.requests.length;
    expect(await test("local")).toMatchObject({ ok: true, error: null });
    expect(server.emulator.requests.length).toBe(before);
  });

  it("a dashboard provider with a wrong key: the test answers the error, which becomes its last error without the key; headers reach the server", async () => {
    const wrongKey = "sk-dash-wrong-key-0123456789abcdef";
    const saved = await trpc("providers.save", {
      id: "dash-compat",
      provider: {
        type: "openai-compatible",
        base_url: server.emulator.openaiBaseUrl,
        api_key: wrongKey,
        headers: { "x-team": "provider-admin" },
      },
    });
    expect(saved.status, saved.text).toBe(200);
    expect(saved.text).not.toContain(wrongKey);
    expect(saved.data).toMatchObject({
      type: "openai-compatible",
      source: "dashboard",
      lastError: null,
      stored: { secretTail: "…cdef", secrets: ["api_key", "headers"] },
    });
    // Headers may carry a key: boxed with the secrets, never listed, not in the settings column.
    expect(saved.text).not.toContain("provider-admin");
    const [row0] = await getDatabase().then((db) =>
      db.rawQuery<{ settings: string; secret: string }>(
        `SELECT settings::text AS settings, secret FROM provider_credentials WHERE id = 'dash-compat'`,
      ),
    );
    expect(row0!.settings).not.toContain("x-team");
    expect(row0!.secret).not.toContain("provider-admin");

    const before = server.emulator.requests.length;
    const failed = await test("dash-compat");
    expect(failed).toMatchObject({ ok: false, error: { kind: "auth" } });
    expect(JSON.stringify(failed)).not.toContain(wrongKey);
    const sent = server.emulator.requests.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ method: "GET", path: "/v1/models", status: 401 });
    expect(sent[0]!.headers["x-team"]).toBe("provider-admin");

    const listed = await trpc("providers.list");
    expect(listed.text).not.toContain(wrongKey);
    // Nor the masked form OpenAI echoes ("sk-dash-****cdef").
    expect(listed.text).not.toContain("****");
    const row = (listed.data as Listed[]).find((p) => p.id === "dash-compat")!;
    expect(row.lastError).toMatchObject({ kind: "auth", status: 401 });
    expect(row.lastError!.message).toContain("rejected the API key");
    expect(Date.now() - Date.parse(row.lastError!.at)).toBeLessThan(60_000);

    // The right key: the test passes; the last error stays until another failure replaces it.
    const fixed = await trpc("providers.save", {
      id: "dash-compat",
      provider: { type: "openai-compatible", base_url: server.emulator.openaiBaseUrl, api_key: server.emulator.openaiKey },
    });
    expect(fixed.status, fixed.text).toBe(200);
    expect(await test("dash-compat")).toMatchObject({ ok: true, error: null });
    expect((await trpc("providers.remove", { id: "dash-compat" })).status).toBe(200);
  });

  it("a failed generation becomes the provider's last error (the adapters record it; the generation code is unchanged)", async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "[[emulator fault=server_error]] hello" }] }),
    });
    expect(res.status).toBe(502);
    await res.arrayBuffer();
    const openai = (await list()).find((p) => p.id === "openai")!;
    expect(openai.lastError).toMatchObject({ kind: "server", status: 500 });
    expect(openai.lastError!.message).toContain("OpenAI 500");
    expect(openai.lastError!.message).not.toContain(server.emulator.openaiKey!);
  });

  it("an unreachable provider fails within the deadline with a connection error", async () => {
    const saved = await trpc("providers.save", {
      id: "dash-down",
      // Nothing listens on port 9 of this machine.
      provider: { type: "openai-compatible", base_url: "http://127.0.0.1:9/v1" },
    });
    expect(saved.status, saved.text).toBe(200);
    const r = await test("dash-down");
    expect(r).toMatchObject({ ok: false, error: { kind: "connection" } });
    expect((await list()).find((p) => p.id === "dash-down")!.lastError).toMatchObject({ kind: "connection" });
    expect((await trpc("providers.remove", { id: "dash-down" })).status).toBe(200);
  });

  it("the models list names the provider that serves each model: its id and its configured name", async () => {
    const saved = await trpc("providers.save", {
      id: "team-llama",
      provider: { type: "openai-compatible", name: "Team Llama", base_url: server.emulator.openaiBaseUrl },
    });
    expect(saved.status, saved.text).toBe(200);
    const created = await trpc("models.create", {
      model: {
        id: "team-llama-8b",
        name: "Team Llama 8B",
        provider: "team-llama",
        type: "chat",
        contextWindow: 8192,
        maxOutputTokens: 1024,
        price: { input: "0", output: "0" },
        capabilities: ["text-generation"],
      },
    });
    expect(created.status, created.text).toBe(200);
    const models = (await fetch(`${server.url}/api/trpc/models.list`, { headers: { authorization: `Bearer ${server.key}` } }).then((r) =>
      r.json(),
    )) as { result: { data: { json: { id: string; provider: string; providerName: string }[] } } };
    const byId = new Map(models.result.data.json.map((m) => [m.id, m]));
    expect(byId.get("team-llama-8b")).toMatchObject({ provider: "team-llama", providerName: "Team Llama" });
    expect(byId.get("gpt-4o")).toMatchObject({ provider: "openai", providerName: "OpenAI" });
    expect(byId.get("azure/gpt-4o")).toMatchObject({ provider: "azure-openai", providerName: "Azure OpenAI" });
    expect((await trpc("providers.remove", { id: "team-llama" })).status).toBe(200);
  });

  it("refuses an unknown id (404) and a non-admin key (403)", async () => {
    expect((await trpc("providers.test", { id: "no-such-provider" })).status).toBe(404);
    expect((await trpc("providers.test", { id: "openai" }, server.key)).status).toBe(403);
  });

  it("refuses a malformed id with a 400 naming the field, not a 500 (found by tests/fuzz)", async () => {
    for (const id of ["", "Upper Case"]) {
      const r = await trpc("providers.save", { id, provider: { type: "openai-compatible", base_url: "http://127.0.0.1:1/v1" } });
      expect(r.status).toBe(400);
      expect(r.text).toMatch(/id: a lowercase id such as azure-east/);
    }
  });
});

describe("connection tests outside a host", () => {
  it("a slow provider is given up at the deadline as a timeout, which becomes its last error", async () => {
    const emulator = await startProviderEmulator();
    try {
      // The file's `headers` reach the server on every request: here they slow the model list down.
      const config = parseConfigFile(
        "f.yaml",
        `providers: { slow: { type: openai-compatible, base_url: "${emulator.openaiBaseUrl}", api_key: k, headers: { x-emulator: "delay=3000" } } }`,
        {},
      );
      const [slow] = providersFromConfig(config);
      const started = Date.now();
      await expect(slow!.testConnection!({ signal: AbortSignal.timeout(200) })).rejects.toMatchObject({ kind: "timeout" });
      expect(Date.now() - started).toBeLessThan(2000);
      expect(lastProviderError("slow")).toMatchObject({ kind: "timeout" });
      // The service's test answers it as a failed test within its deadline.
      registerProvider(slow!);
      try {
        const r = await testProviderConnection("slow", 300);
        expect(r).toMatchObject({ id: "slow", ok: false, error: { kind: "timeout" } });
        expect(r.latencyMs).toBeGreaterThanOrEqual(250);
        expect(r.latencyMs).toBeLessThan(2000);
      } finally {
        resetProvidersForTests();
      }
    } finally {
      await emulator.close();
    }
  });

  it("the service's test answers an unavailable provider's reason without calling anything", async () => {
    const config = parseConfigFile("f.yaml", "providers: { nokey: { type: gemini, api_key: ${UNSET_GEMINI_KEY} } }", {});
    const [nokey] = providersFromConfig(config);
    await expect(nokey!.testConnection!()).rejects.toMatchObject({
      kind: "unavailable",
      message: expect.stringContaining("UNSET_GEMINI_KEY"),
    });
    // Not a failure of the provider: no last error.
    expect(lastProviderError("nokey")).toBeUndefined();
    await expect(testProviderConnection("no-such-provider")).rejects.toMatchObject({ code: "not_found" });
  });

  it("`headers` of an anthropic provider of the file reach Anthropic's API", async () => {
    const emulator = await startProviderEmulator();
    try {
      const config = parseConfigFile(
        "f.yaml",
        `providers: { claude-eu: { type: anthropic, base_url: "${emulator.anthropicBaseUrl}", api_key: "${emulator.anthropicKey}", headers: { x-team: eu } } }`,
        {},
      );
      const [claude] = providersFromConfig(config);
      expect(claude!.id).toBe("claude-eu");
      await claude!.testConnection!();
      const sent = emulator.requests.at(-1)!;
      expect(sent).toMatchObject({ protocol: "anthropic", method: "GET", path: "/v1/models", status: 200 });
      expect(sent.headers["x-team"]).toBe("eu");
      // Its failures are kept under its own id, not "anthropic".
      const wrong = parseConfigFile(
        "f.yaml",
        `providers: { claude-bad: { type: anthropic, base_url: "${emulator.anthropicBaseUrl}", api_key: sk-ant-wrong-0123456789 } }`,
        {},
      );
      await expect(providersFromConfig(wrong)[0]!.testConnection!()).rejects.toMatchObject({ kind: "auth" });
      expect(lastProviderError("claude-bad")).toMatchObject({ kind: "auth", status: 401 });
      expect(lastProviderError("claude-bad")!.message).not.toContain("sk-ant-wrong-0123456789");
    } finally {
      await emulator.close();
    }
  });
});
