// Deployments an admin adds in the dashboard (tRPC routing.saveDeployment / deleteDeployment, the
// models page's form): routed beside the file's own deployments of the same model, listed with
// their source, validated (a model the catalogue lacks, a provider not configured, an id taken),
// refused to non-admins, and removed again. On PostgreSQL, with two server instances on one
// database: one added on the first instance serves on the second within the poll's interval.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createModelServiceClient } from "@/client/index.ts";
import type { DatabaseHandle } from "@/server/db/index.ts";
import { EMULATOR_OPENAI_KEY, startProviderEmulator, type ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { createKey, NO_RATE_LIMITS, startServer, type Servers } from "@/tests/support/host.ts";

process.env.LOG_LEVEL = "silent";

const dir = mkdtempSync(path.join(tmpdir(), "ms-stored-deployments-"));
const configPath = path.join(dir, "model-service.yaml");
let a: ProviderEmulator;
let b: ProviderEmulator;

beforeAll(async () => {
  a = await startProviderEmulator();
  b = await startProviderEmulator();
  writeFileSync(
    configPath,
    `providers:
  dep-a: { type: openai, base_url: "${a.openaiBaseUrl}", api_key: ${EMULATOR_OPENAI_KEY} }
  dep-b: { type: openai, base_url: "${b.openaiBaseUrl}", api_key: ${EMULATOR_OPENAI_KEY} }
models:
  - { model: gpt-4o-mini, provider: dep-a, id: file-a }
`,
  );
});
afterAll(async () => {
  await a?.close();
  await b?.close();
});

const chats = (e: ProviderEmulator) => e.requests.filter((r) => r.path.endsWith("/chat/completions"));

describe.each(testDatabases())("deployments added in the dashboard on $kind", ({ kind }) => {
  let servers: Servers;
  let db: DatabaseHandle;
  let admin = "";
  let user = "";

  beforeAll(async () => {
    servers = await startServer({
      env: { MODEL_SERVICE_CONFIG: configPath, ...NO_RATE_LIMITS },
      database: kind,
      instances: kind === "postgres" ? 2 : 1,
    });
    db = await servers.openDatabase();
    admin = (await createKey(db, { name: "admin", isAdmin: true })).key;
    user = (await createKey(db, { name: "user" })).key;
  }, 180_000);
  afterAll(async () => {
    await db?.close();
    await servers?.dispose();
  }, 60_000);

  const generate = async (url: string, text: string) => {
    const res = await fetch(`${url}/v1/llm/generate`, {
      method: "POST",
      headers: { authorization: `Bearer ${user}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: text }] }),
    });
    await res.text();
    return { status: res.status, deployment: res.headers.get("x-model-service-deployment") };
  };

  it("an added deployment serves beside the file's, is listed as the dashboard's, and is gone once removed", async () => {
    const ms = createModelServiceClient(servers.url, { apiKey: admin });
    const saved = await ms.routing.saveDeployment.mutate({
      entry: { model: "gpt-4o-mini", provider: "dep-b", provider_model: "mini-from-dashboard", weight: 3, id: "dash-b", region: "eu" },
    });
    expect(saved).toMatchObject({ id: "dash-b", entry: { model: "gpt-4o-mini", provider: "dep-b", weight: 3, region: "eu" } });

    a.reset();
    b.reset();
    const seen = new Map<string, number>();
    for (let i = 0; i < 80; i++) {
      const r = await generate(servers.url, `spread ${i}`);
      expect(r.status).toBe(200);
      seen.set(r.deployment!, (seen.get(r.deployment!) ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).toEqual(["dash-b", "file-a"]);
    expect(seen.get("dash-b")).toBe(chats(b).length);
    expect(seen.get("dash-b")!).toBeGreaterThan(seen.get("file-a")!); // weight 3 against 1
    expect(new Set(chats(b).map((r) => (r.body as { model: string }).model))).toEqual(new Set(["mini-from-dashboard"]));

    const groups = await ms.routing.deployments.query();
    const mini = groups.find((g) => g.model === "gpt-4o-mini")!;
    expect(mini.deployments.map((d) => [d.id, d.source, d.weight])).toEqual([
      ["file-a", "file", 1],
      ["dash-b", "dashboard", 3],
    ]);

    // Edited: weight 0 takes it out of the rotation.
    await ms.routing.saveDeployment.mutate({ entry: { ...saved.entry, weight: 0 }, replace: "dash-b" });
    b.reset();
    for (let i = 0; i < 10; i++) expect((await generate(servers.url, `edited ${i}`)).deployment).toBe("file-a");
    expect(chats(b)).toHaveLength(0);

    await ms.routing.deleteDeployment.mutate({ id: "dash-b" });
    expect((await ms.routing.deployments.query()).find((g) => g.model === "gpt-4o-mini")!.deployments.map((d) => d.id)).toEqual(["file-a"]);
    await expect(ms.routing.deleteDeployment.mutate({ id: "dash-b" })).rejects.toMatchObject({ data: { httpStatus: 404 } });
  });

  it("refuses what cannot be routed with a 4xx that says what to fix, and non-admins with 403", async () => {
    const ms = createModelServiceClient(servers.url, { apiKey: admin });
    const refused = async (entry: Parameters<typeof ms.routing.saveDeployment.mutate>[0]["entry"]) => {
      try {
        await ms.routing.saveDeployment.mutate({ entry });
      } catch (e) {
        return e as { message: string; data: { httpStatus: number } };
      }
      throw new Error("accepted");
    };
    expect(await refused({ model: "no-such-model", provider: "dep-a" })).toMatchObject({
      data: { httpStatus: 400 },
      message: expect.stringContaining("not in the catalogue"),
    });
    expect(await refused({ model: "gpt-4o-mini", provider: "nowhere" })).toMatchObject({
      data: { httpStatus: 400 },
      message: expect.stringContaining("nowhere is not configured"),
    });
    expect(await refused({ model: "gpt-4o-mini", provider: "dep-a", id: "file-a" })).toMatchObject({
      data: { httpStatus: 409 },
      message: expect.stringContaining("configuration file"),
    });
    expect(await refused({ model: "gpt-4o-mini", provider: "dep-a", weight: -1 })).toMatchObject({ data: { httpStatus: 400 } });
    await ms.routing.saveDeployment.mutate({ entry: { model: "gpt-4o-mini", provider: "dep-b", id: "twice" } });
    expect(await refused({ model: "gpt-4o-mini", provider: "dep-b", id: "twice" })).toMatchObject({ data: { httpStatus: 409 } });
    await ms.routing.deleteDeployment.mutate({ id: "twice" });

    const notAdmin = createModelServiceClient(servers.url, { apiKey: user });
    await expect(notAdmin.routing.saveDeployment.mutate({ entry: { model: "gpt-4o-mini", provider: "dep-b" } })).rejects.toMatchObject({
      data: { httpStatus: 403 },
    });
  });

  // Several instances need PostgreSQL (one embedded database has one owner): defined there only.
  if (kind === "postgres")
    it("one added on one instance serves on the other within the poll's interval", async () => {
      const ms = createModelServiceClient(servers.urls[0]!, { apiKey: admin });
      await ms.routing.saveDeployment.mutate({ entry: { model: "gpt-4o-mini", provider: "dep-b", id: "shared-b", weight: 1000 } });
      const second = servers.urls[1]!;
      let deployment: string | null = null;
      for (let i = 0; i < 50 && deployment !== "shared-b"; i++) {
        deployment = (await generate(second, `other instance ${i}`)).deployment;
        if (deployment !== "shared-b") await new Promise((r) => setTimeout(r, 100));
      }
      expect(deployment).toBe("shared-b");
      await ms.routing.deleteDeployment.mutate({ id: "shared-b" });
    });
});
