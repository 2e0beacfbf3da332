// Run-time providers (tRPC providers.*): an admin saves a provider with its key; the key is
// encrypted in the database (read from the column here), never returned (a masked tail only), a
// second instance picks it up without a restart, and a model served by it works through the host.
import OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";
import { CLI_ACTOR } from "@/server/access/auth.ts";
import { createApiKey } from "@/server/features/accounts/keys.ts";
import { CredentialSync, openSecrets, sealSecrets } from "@/server/providers/credentials/credentials.ts";
import type { Provider } from "@/server/providers/types.ts";
import { getDatabase } from "@/server/db/index.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { useCompatServer } from "../openai-compat/harness.ts";

describe("the secret box", () => {
  it("seals with AES-256-GCM bound to the provider id; another id or a changed byte cannot open it", () => {
    const box = sealSecrets("azure-x", { api_key: "k-123456789" });
    expect(box).toMatch(/^v1:[\w-]+$/);
    expect(box).not.toContain("k-123456789");
    expect(openSecrets("azure-x", box)).toEqual({ api_key: "k-123456789" });
    expect(() => openSecrets("azure-y", box)).toThrow(/cannot be decrypted/);
    const tampered = box.slice(0, -2) + (box.endsWith("A") ? "BB" : "AA");
    expect(() => openSecrets("azure-x", tampered)).toThrow(/cannot be decrypted/);
    // A fresh IV each time.
    expect(sealSecrets("azure-x", { api_key: "k-123456789" })).not.toBe(box);
  });
});

describe.each(testDatabases())("run-time providers on $kind", ({ kind }) => {
  const server = useCompatServer(kind);
  let admin = "";
  beforeAll(async () => {
    admin = (await createApiKey(CLI_ACTOR, { name: "providers-admin", isAdmin: true })).key;
  });
  const trpc = async (procedure: string, input: unknown, key = admin) => {
    // Queries are GETs, mutations POSTs.
    const query = procedure === "providers.list";
    const res = await fetch(
      `${server.url}/api/trpc/${procedure}${query && input !== undefined ? `?input=${encodeURIComponent(JSON.stringify({ json: input }))}` : ""}`,
      {
        method: query ? "GET" : "POST",
        headers: { authorization: `Bearer ${key}`, ...(query ? {} : { "content-type": "application/json" }) },
        ...(query ? {} : { body: JSON.stringify({ json: input }) }),
      },
    );
    return { status: res.status, text: await res.text() };
  };
  const azureKey = () => server.emulator.cloud.azureKey!;

  it("saves a provider: the key is encrypted in the column, never answered (masked tail), and it serves a model", async () => {
    const saved = await trpc("providers.save", {
      id: "azure-dash",
      provider: { type: "azure-openai", endpoint: server.emulator.cloud.azureEndpoint, api_key: azureKey() },
    });
    expect(saved.status).toBe(200);
    expect(saved.text).not.toContain(azureKey());
    const out = JSON.parse(saved.text).result.data.json;
    expect(out).toMatchObject({
      id: "azure-dash",
      source: "dashboard",
      available: true,
      stored: { type: "azure-openai", secrets: ["api_key"], secretTail: `…${azureKey().slice(-4)}` },
    });
    expect(out.stored.settings).toEqual({ type: "azure-openai", endpoint: server.emulator.cloud.azureEndpoint });

    const db = await getDatabase();
    const [row] = await db.rawQuery<{ secret: string; settings: unknown; secret_tail: string }>(
      `SELECT secret, settings::text AS settings, secret_tail FROM provider_credentials WHERE id = 'azure-dash'`,
    );
    expect(row!.secret).toMatch(/^v1:/);
    expect(row!.secret).not.toContain(azureKey());
    expect(String(row!.settings)).not.toContain(azureKey());
    expect(Buffer.from(row!.secret.slice(3), "base64url").toString("latin1")).not.toContain(azureKey());

    const listed = await trpc("providers.list", undefined);
    expect(listed.text).not.toContain(azureKey());
    expect(JSON.parse(listed.text).result.data.json.find((p: { id: string }) => p.id === "azure-dash")).toMatchObject({
      source: "dashboard",
    });

    // A model served by it (an admin adds it), called with the stored key.
    const model = await trpc("models.create", {
      model: {
        id: "dash-gpt",
        name: "Dashboard GPT",
        provider: "azure-dash",
        type: "chat",
        contextWindow: 128000,
        maxOutputTokens: 4096,
        price: { input: "1", output: "2" },
        capabilities: ["text-generation"],
      },
    });
    expect(model.status, model.text).toBe(200);
    const client = new OpenAI({ apiKey: server.key, baseURL: `${server.url}/v1`, maxRetries: 0 });
    const r = await client.chat.completions.create(
      { model: "dash-gpt", messages: [{ role: "user", content: "from the dashboard" }] },
      { headers: { "x-request-id": `${kind}-dash` } },
    );
    expect(r.choices[0]!.message.content).toBe("You said: from the dashboard");
    expect(server.emulator.requests.at(-1)).toMatchObject({ protocol: "azure", path: "/openai/deployments/dash-gpt/chat/completions" });
    expect(server.emulator.requests.at(-1)!.headers["api-key"]).toBe(azureKey());
    // $1 / $2 per 1M: 3 in, 5 out
    expect(await server.events(`${kind}-dash`)).toEqual([
      expect.objectContaining({ provider: "azure-dash", total_cost: "0.000013000000" }),
    ]);
  });

  it("an edit without the key keeps the stored one; a second instance picks changes up without a restart; removal too", async () => {
    const db = await getDatabase();
    const seen = new Map<string, Provider>();
    const second = new CredentialSync(
      async () => db,
      { replace: (ps) => (seen.clear(), ps.forEach((p) => seen.set(p.id, p))) },
      undefined,
      100,
    ).start();
    try {
      await expect.poll(() => seen.has("azure-dash"), { timeout: 5000 }).toBe(true);
      const edited = await trpc("providers.save", {
        id: "azure-dash",
        provider: { type: "azure-openai", endpoint: server.emulator.cloud.azureEndpoint, name: "Renamed" },
      });
      expect(JSON.parse(edited.text).result.data.json).toMatchObject({
        name: "Renamed",
        available: true,
        stored: { secrets: ["api_key"] },
      });
      await expect.poll(() => seen.get("azure-dash")?.name, { timeout: 5000 }).toBe("Renamed");
      expect(seen.get("azure-dash")!.status()).toEqual({ available: true });
      expect((await trpc("providers.remove", { id: "azure-dash" })).status).toBe(200);
      await expect.poll(() => seen.has("azure-dash"), { timeout: 5000 }).toBe(false);
    } finally {
      second.stop();
    }
  });

  it("refuses a built-in or configured id, an invalid provider with one line, and a user key", async () => {
    const taken = await trpc("providers.save", { id: "bedrock", provider: { type: "bedrock", region: "us-east-1" } });
    expect(taken.status).toBe(409);
    const bad = await trpc("providers.save", {
      id: "x1",
      provider: { type: "bedrock", region: "Mars", secret_access_key: "sk-very-secret-111" },
    });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain("region");
    expect(bad.text).not.toContain("sk-very-secret-111");
    const user = await trpc("providers.list", undefined, server.key);
    expect(user.status).toBe(403);
  });
});
