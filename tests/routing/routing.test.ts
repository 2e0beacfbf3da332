// Routing end to end: emulator instances as the deployments of one model (model-service.yaml),
// through the REST host and the official SDKs. Weights hold over a few hundred requests;
// least-busy prefers the idle deployment under concurrent slow requests; latency moves traffic to
// the faster; a deployment that starts answering 500 is cooled after the threshold with no caller
// seeing a failure, and gets traffic again after the cooldown; a 429's Retry-After cools it that
// long; a group that is all cooling down waits for the first to come back. Usage events name the
// deployment and the attempts, and every answer carries x-model-service-deployment. With
// TEST_DATABASE_URL and TEST_REDIS_URL: caps hold across two server instances on one Redis, and a
// cooldown survives an instance restarting.
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { resetRoutingForTests } from "@/server/features/routing/index.ts";
import { EMULATOR_OPENAI_KEY, startProviderEmulator, type ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { testDatabases, testDatabaseUrl } from "@/tests/support/db.ts";
import { createKey, NO_RATE_LIMITS, startServer, useHost, type Servers } from "@/tests/support/host.ts";

const dir = mkdtempSync(path.join(tmpdir(), "ms-routing-"));
const configPath = path.join(dir, "model-service.yaml");
const emulators: Record<"a" | "b" | "c", ProviderEmulator> = {} as never;
const ids = ["a", "b", "c"] as const;

/** The file: providers dep-a, dep-b, dep-c on the three emulators, and one model per behaviour under test. */
function configFile(extra = ""): string {
  const providers = ids
    .map((id) => `  dep-${id}: { type: openai, base_url: "${emulators[id].openaiBaseUrl}", api_key: ${EMULATOR_OPENAI_KEY} }`)
    .join("\n");
  return `providers:
${providers}
models:
  # weighted (the default): 1 : 3
  - { model: gpt-4o-mini, provider: dep-a, provider_model: mini-a }
  - { model: gpt-4o-mini, provider: dep-b, provider_model: mini-b, weight: 3 }
  # least-busy
  - { model: gpt-4o, provider: dep-a, id: busy-a }
  - { model: gpt-4o, provider: dep-b, id: busy-b }
  # latency
  - { model: gpt-4-turbo, provider: dep-a, id: fast-a }
  - { model: gpt-4-turbo, provider: dep-b, id: fast-b }
  # cooldowns: three deployments, 2 failures cool one for 1.5 s
  - { model: gpt-4, provider: dep-a, id: cool-a }
  - { model: gpt-4, provider: dep-b, id: cool-b }
  - { model: gpt-4, provider: dep-c, id: cool-c }
  # Retry-After, and a group that is all cooling down
  - { model: gpt-4o-2024-08-06, provider: dep-a, id: ra-a }
  - { model: gpt-4o-2024-08-06, provider: dep-b, id: ra-b }
  # a deployment's own price (the catalogue keeps its own: the first entry gives none)
  - { model: gpt-3.5-turbo, provider: dep-a, id: list-price }
  - { model: gpt-3.5-turbo, provider: dep-b, id: own-price, price: { input: 1000, output: 2000 } }
  # embeddings: two deployments of one embedding model
  - { model: text-embedding-3-small, provider: dep-a, id: emb-a, provider_model: emb-model-a }
  - { model: text-embedding-3-small, provider: dep-b, id: emb-b }
${extra}routing:
  gpt-4o: { strategy: least-busy }
  gpt-4-turbo: { strategy: latency }
  gpt-4: { cooldown: { failures: 2, window_s: 30, cooldown_s: 1.5 } }
  gpt-4o-2024-08-06: { cooldown: { failures: 1, window_s: 30, cooldown_s: 1 } }
`;
}

beforeAll(async () => {
  for (const id of ids) emulators[id] = await startProviderEmulator();
  writeFileSync(configPath, configFile());
});
afterAll(async () => {
  for (const id of ids) await emulators[id]?.close();
});

const chat = (model: string, text = "hello there", extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: "user", content: text }],
  ...extra,
});
const count = (e: ProviderEmulator) => e.requests.filter((r) => r.path.endsWith("/chat/completions")).length;
const METRICS = "routing-metrics-token-0123456789";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(testDatabases())("routing on $kind", ({ kind }) => {
  const host = useHost({ database: kind, env: { MODEL_SERVICE_CONFIG: configPath, METRICS_TOKEN: METRICS, ...NO_RATE_LIMITS } });
  let key = "";

  beforeAll(async () => {
    key = (await createKey(host.db(), { name: `routing-${kind}`, scopes: ["generate", "embeddings", "usage:read"] })).key;
  });
  beforeEach(() => {
    for (const id of ids) emulators[id].reset();
    resetRoutingForTests();
  });

  async function post(body: unknown, route = "/v1/llm/generate", headers: Record<string, string> = {}) {
    const res = await fetch(`${host.url}${route}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    return {
      status: res.status,
      deployment: res.headers.get("x-model-service-deployment"),
      text,
      requestId: res.headers.get("x-request-id"),
    };
  }

  /** tRPC routing.deployments, as the models page reads it. */
  async function deployments() {
    const res = await fetch(`${host.url}/api/trpc/routing.deployments`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    type Group = { model: string; deployments: { id: string; status: string; cooldownMs: number; latencyMs: number | null }[] };
    return ((await res.json()) as { result: { data: { json: Group[] } } }).result.data.json;
  }

  /** /metrics now: a series' value by name and deployment. */
  async function metrics() {
    const text = await (await fetch(`${host.url}/metrics`, { headers: { authorization: `Bearer ${METRICS}` } })).text();
    return (name: string, deployment: string) => {
      const line = text.split("\n").find((l) => l.startsWith(`model_service_${name}{`) && l.includes(`deployment="${deployment}"`));
      return line === undefined ? undefined : Number(line.split(" ").at(-1));
    };
  }

  it("weighted: traffic follows the weights (1:3) within a tolerance over 400 requests; usage events name the deployment", async () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const r = await post(chat("gpt-4o-mini", `w ${i}`));
      expect(r.status).toBe(200);
      seen.set(r.deployment!, (seen.get(r.deployment!) ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).toEqual(["dep-a/mini-a", "dep-b/mini-b"]);
    expect(count(emulators.a) + count(emulators.b)).toBe(400);
    expect(seen.get("dep-b/mini-b")).toBe(count(emulators.b));
    const share = count(emulators.b) / 400;
    expect(share).toBeGreaterThan(0.66);
    expect(share).toBeLessThan(0.84);
    // Each deployment got its own provider model name, as the file gives it.
    expect(new Set(emulators.b.requests.map((r) => (r.body as { model: string }).model))).toEqual(new Set(["mini-b"]));
    expect(new Set(emulators.a.requests.map((r) => (r.body as { model: string }).model))).toEqual(new Set(["mini-a"]));
    await host.flush();
    const rows = await host.db().rawQuery<{
      deployment: string;
      provider: string;
      n: number;
      attempts: number;
    }>("select deployment, provider, count(*)::int as n, max(attempts) as attempts from usage_events where model_id = 'gpt-4o-mini' group by 1, 2 order by 1");
    expect(rows).toEqual([
      { deployment: "dep-a/mini-a", provider: "dep-a", n: count(emulators.a), attempts: 1 },
      { deployment: "dep-b/mini-b", provider: "dep-b", n: count(emulators.b), attempts: 1 },
    ]);
    const dims = await host
      .db()
      .rawQuery<{ value: string; requests: number }>(
        "select value, sum(requests)::int as requests from usage_daily_dims where dim = 'deployment' and value like 'dep-%/mini-%' group by 1 order by 1",
      );
    expect(dims).toEqual(rows.map((r) => ({ value: r.deployment, requests: r.n })));
    // The key's own statistics (the filtered roll-ups) break down by deployment too.
    const usage = (await (await fetch(`${host.url}/v1/llm/usage`, { headers: { authorization: `Bearer ${key}` } })).json()) as {
      breakdowns: { deployment: { value: string; requests: number }[] };
    };
    const own = usage.breakdowns.deployment.filter((d) => d.value.endsWith("/mini-a") || d.value.endsWith("/mini-b"));
    expect(own.map((d) => ({ value: d.value, requests: d.requests })).sort((a, b) => a.value.localeCompare(b.value))).toEqual(
      rows.map((r) => ({ value: r.deployment, requests: r.n })),
    );
  });

  it("embeddings are routed: both deployments serve under their own model names, and one that fails is moved off unseen", async () => {
    const embed = (input: string) => post({ model: "text-embedding-3-small", input }, "/v1/embeddings");
    const embeddings = (e: ProviderEmulator) => e.requests.filter((r) => r.path.endsWith("/embeddings"));
    for (let i = 0; i < 40; i++) expect((await embed(`spread ${i}`)).status).toBe(200);
    expect(embeddings(emulators.a).length).toBeGreaterThan(0);
    expect(embeddings(emulators.b).length).toBeGreaterThan(0);
    expect(embeddings(emulators.a).length + embeddings(emulators.b).length).toBe(40);
    expect(new Set(embeddings(emulators.a).map((r) => (r.body as { model: string }).model))).toEqual(new Set(["emb-model-a"]));
    expect(new Set(embeddings(emulators.b).map((r) => (r.body as { model: string }).model))).toEqual(new Set(["text-embedding-3-small"]));

    emulators.a.reset();
    emulators.b.reset();
    emulators.a.setDirectives("fault=server_error");
    const statuses = [];
    for (let i = 0; i < 20; i++) statuses.push((await embed(`failover ${i}`)).status);
    emulators.a.setDirectives("");
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(embeddings(emulators.b).length).toBe(20); // every text was answered by b
    await host.flush();
    const rows = await host.db().rawQuery<{ deployment: string; attempts: number; n: number }>(
      `select deployment, attempts, count(*)::int as n from usage_events
       where model_id = 'text-embedding-3-small' and kind = 'embedding' and status = 'success' group by 1, 2 order by 1, 2`,
    );
    // The calls that tried a first took two provider calls; a was cooled after its third failure.
    const failed = embeddings(emulators.a).length;
    expect(failed).toBeGreaterThan(0);
    expect(failed).toBeLessThanOrEqual(3);
    expect(rows.filter((r) => r.deployment === "emb-b" && r.attempts === 2).reduce((n, r) => n + r.n, 0)).toBe(failed);
  });

  it("least-busy: concurrent slow requests go to the idle deployment", async () => {
    emulators.a.setDirectives("delay=600");
    emulators.b.setDirectives("delay=600");
    // One slow request in flight on whichever deployment it got: the next goes to the other.
    const first = post(chat("gpt-4o", "first"));
    await sleep(100);
    const second = post(chat("gpt-4o", "second"));
    const [r1, r2] = await Promise.all([first, second]);
    expect(r1.status).toBe(200);
    expect(r2.status).toBe(200);
    expect(r1.deployment).not.toBe(r2.deployment);
    // One slow request keeps its deployment busy; the quick ones, one after the other, all go to the other.
    resetRoutingForTests();
    for (const id of ids) emulators[id].reset();
    emulators.a.setDirectives("delay=600");
    emulators.b.setDirectives("delay=600");
    const slow = post(chat("gpt-4o", "slow"));
    while (count(emulators.a) + count(emulators.b) === 0) await sleep(5);
    const busy = count(emulators.a) === 1 ? "busy-a" : "busy-b";
    emulators.a.setDirectives("");
    emulators.b.setDirectives("");
    const results: (string | null)[] = [];
    for (let i = 0; i < 10; i++) results.push((await post(chat("gpt-4o", `quick ${i}`))).deployment);
    expect((await slow).status).toBe(200);
    expect(results).toEqual(new Array(10).fill(busy === "busy-a" ? "busy-b" : "busy-a"));
  });

  it("latency: traffic moves to the faster deployment", async () => {
    emulators.a.setDirectives("delay=80");
    const picks: string[] = [];
    for (let i = 0; i < 60; i++) picks.push((await post(chat("gpt-4-turbo", `l ${i}`))).deployment!);
    const late = picks.slice(20);
    expect(late.filter((d) => d === "fast-b").length).toBeGreaterThanOrEqual(34);
    // A streamed answer measures time to first token, and carries the header too.
    const streamed = await post(chat("gpt-4-turbo", "s", { stream: true }));
    expect(streamed.status).toBe(200);
    expect(streamed.deployment).toMatch(/^fast-[ab]$/);
  });

  it("a deployment that starts answering 500 is cooled after the threshold, callers see no failure, and it gets traffic again after the cooldown", async () => {
    const before = await metrics();
    emulators.c.setDirectives("fault=server_error");
    const statuses: number[] = [];
    const started = Date.now();
    for (let i = 0; i < 30; i++) statuses.push((await post(chat("gpt-4", `c ${i}`))).status);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1500); // all within the cooldown
    // Exactly the threshold reached it: then it was cooling down.
    expect(count(emulators.c)).toBe(2);
    await host.flush();
    const retried = await host.db().rawQuery<{
      attempts: number;
      n: number;
    }>("select attempts, count(*)::int as n from usage_events where model_id = 'gpt-4' and status = 'success' group by 1 order by 1");
    expect(retried).toEqual([
      { attempts: 1, n: 28 },
      { attempts: 2, n: 2 },
    ]);
    // /metrics: its failures, its cooldown, the others' requests and latency (counters as grown in this test).
    const now = await metrics();
    const grown = (name: string, d: string) => now(name, d)! - (before(name, d) ?? 0);
    expect(grown("deployment_failures_total", "cool-c")).toBe(2);
    expect(grown("deployment_requests_total", "cool-c")).toBe(2);
    expect(grown("deployment_requests_total", "cool-a") + grown("deployment_requests_total", "cool-b")).toBe(30);
    expect(now("deployment_cooldown_seconds", "cool-c")).toBeGreaterThan(0);
    expect(now("deployment_cooldown_seconds", "cool-a")).toBe(0);
    expect(now("deployment_in_flight", "cool-a")).toBe(0);
    expect(now("deployment_latency_seconds", "cool-a")).toBeGreaterThan(0);
    // The models page's view (tRPC routing.deployments): the group, its failures and the cooldown.
    const cooling = (await deployments()).find((g) => g.model === "gpt-4")!;
    expect(cooling.deployments.map((d) => d.id)).toEqual(["cool-a", "cool-b", "cool-c"]);
    const c = cooling.deployments.find((d) => d.id === "cool-c")!;
    expect(c).toMatchObject({ provider: "dep-c", weight: 1, priority: 0, rpm: null, tpm: null, failures: 2 });
    expect(c.status === "cooling").toBe(c.cooldownMs > 0);
    expect(cooling.deployments.find((d) => d.id === "cool-a")).toMatchObject({ status: "ok", cooldownMs: 0, inFlight: 0 });
    expect(cooling.deployments.find((d) => d.id === "cool-a")!.latencyMs).toBeGreaterThan(0);
    // Recovered, and the cooldown over: traffic comes back.
    emulators.c.setDirectives("");
    await sleep(1600);
    const after: (string | null)[] = [];
    for (let i = 0; i < 30; i++) after.push((await post(chat("gpt-4", `d ${i}`))).deployment);
    expect(after.filter((d) => d === "cool-c").length).toBeGreaterThan(2);
    expect((await deployments()).find((g) => g.model === "gpt-4")!.deployments.find((d) => d.id === "cool-c")).toMatchObject({
      status: "ok",
      cooldownMs: 0,
    });
  });

  it("a 429 with Retry-After cools the deployment for that long", async () => {
    emulators.b.setDirectives("fault=rate_limit retry_after=2");
    let at = 0;
    for (let i = 0; i < 20 && count(emulators.b) === 0; i++) {
      expect((await post(chat("gpt-4o-2024-08-06", `r ${i}`))).status).toBe(200);
      at = Date.now();
    }
    expect(count(emulators.b)).toBe(1);
    emulators.b.setDirectives("");
    // Longer than the model's 1 s cooldown, shorter than the Retry-After: nothing reaches it.
    while (Date.now() - at < 1700) expect((await post(chat("gpt-4o-2024-08-06", "x"))).deployment).toBe("ra-a");
    expect(count(emulators.b)).toBe(1);
    await sleep(Math.max(0, 2100 - (Date.now() - at)));
    const after: (string | null)[] = [];
    for (let i = 0; i < 20; i++) after.push((await post(chat("gpt-4o-2024-08-06", `y ${i}`))).deployment);
    expect(after).toContain("ra-b");
  });

  it("when every deployment is cooling down, the call waits for the first to come back (up to its deadline)", async () => {
    emulators.a.setDirectives("fault=server_error");
    emulators.b.setDirectives("fault=server_error");
    const started = Date.now();
    const pending = post(chat("gpt-4o-2024-08-06", "wait for me", { timeout_ms: 8000 }));
    await sleep(300);
    emulators.a.setDirectives("");
    emulators.b.setDirectives("");
    const r = await pending;
    expect(r.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThan(900); // it waited for a cooldown to end
    // With a deadline shorter than the cooldown, the model's turn ends (503), without waiting it out.
    emulators.a.setDirectives("fault=server_error");
    emulators.b.setDirectives("fault=server_error");
    resetRoutingForTests();
    const quick = Date.now();
    const refused = await post(chat("gpt-4o-2024-08-06", "no wait", { timeout_ms: 500 }));
    expect(refused.status).toBeGreaterThanOrEqual(500);
    expect(Date.now() - quick).toBeLessThan(1500);
  });

  it("prices a call at the deployment's own price when it has one, else at the catalogue's", async () => {
    const seen = new Map<string, { cost: number; input: number; output: number }>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const r = await post(chat("gpt-3.5-turbo", "price me please"));
      const body = JSON.parse(r.text) as { cost: { total_cost: number }; usage: { prompt_tokens: number; completion_tokens: number } };
      seen.set(r.deployment!, { cost: body.cost.total_cost, input: body.usage.prompt_tokens, output: body.usage.completion_tokens });
    }
    const own = seen.get("own-price")!;
    const list = seen.get("list-price")!;
    // $1000 and $2000 per 1M tokens against the catalogue's $0.5 and $1.5.
    expect(own.cost).toBeCloseTo((own.input * 1000 + own.output * 2000) / 1e6, 9);
    expect(list.cost).toBeCloseTo((list.input * 0.5 + list.output * 1.5) / 1e6, 9);
    await host.flush();
    const rows = await host
      .db()
      .rawQuery<{ deployment: string; cost: string }>(
        "select deployment, max(total_cost)::text as cost from usage_events where model_id = 'gpt-3.5-turbo' group by 1 order by 1",
      );
    expect(rows.map((r) => [r.deployment, Number(r.cost)])).toEqual([
      ["list-price", list.cost],
      ["own-price", own.cost],
    ]);
  });

  it.each([false, true])(
    "/v1/chat/completions passed through (stream %s): a failing deployment's calls move to the other, the answer names the catalogue model",
    async (stream) => {
      emulators.a.setDirectives("fault=server_error");
      for (let i = 0; i < 6; i++) {
        const r = await post(chat("gpt-4o-mini", `pt ${i}`, { stream, seed: i }), "/v1/chat/completions");
        expect(r.status).toBe(200);
        expect(r.deployment).toBe("dep-b/mini-b");
        // The deployment's name for the model went upstream; the caller sees the catalogue's.
        const answered = stream ? JSON.parse(r.text.split("\n\n")[0]!.slice(6)).model : JSON.parse(r.text).model;
        expect(answered).toBe("gpt-4o-mini");
      }
      const sentB = emulators.b.requests.filter((q) => q.path.endsWith("/chat/completions"));
      expect(sentB).toHaveLength(6);
      // The caller's body as it came, but for the model: a field the service does not read is there.
      expect(
        sentB.every((q) => (q.body as { model: string }).model === "mini-b" && typeof (q.body as { seed?: number }).seed === "number"),
      ).toBe(true);
      await host.flush();
      const rows = await host
        .db()
        .rawQuery<{ status: string; n: number }>(
          "select status, count(*)::int as n from usage_events where model_id = 'gpt-4o-mini' and deployment = 'dep-b/mini-b' and stream = $1 group by 1",
          [stream],
        );
      expect(rows).toEqual([{ status: "success", n: expect.any(Number) }]);
    },
  );

  it.each([
    ["/v1/llm/generate", false],
    ["/v1/llm/generate", true],
    ["/v1/chat/completions", false],
    ["/v1/chat/completions", true],
    ["/v1/messages", false],
    ["/v1/messages", true],
  ])("%s (stream %s) names the deployment that answered in x-model-service-deployment, never a key", async (route, stream) => {
    const body = route === "/v1/messages" ? { ...chat("gpt-4o-mini"), max_tokens: 50, stream } : { ...chat("gpt-4o-mini"), stream };
    const r = await post(body, route);
    expect(r.status).toBe(200);
    expect(["dep-a/mini-a", "dep-b/mini-b"]).toContain(r.deployment);
    expect(r.text).not.toContain(EMULATOR_OPENAI_KEY);
  });
});

// ---------------------------------------------------------------------------------------------
// Two server processes on one PostgreSQL and one Redis

const redisUrl = process.env.TEST_REDIS_URL?.trim();

describe.runIf(redisUrl && testDatabaseUrl())("routing across instances (PostgreSQL, Redis)", () => {
  let servers: Servers;
  let restarted: Servers | undefined;
  let key = "";
  const file = path.join(dir, "instances.yaml");
  const env = () => ({
    MODEL_SERVICE_CONFIG: file,
    REDIS_URL: redisUrl!,
    REDIS_KEY_PREFIX: `mstest-routing-${randomBytes(4).toString("hex")}:`,
    ...NO_RATE_LIMITS,
  });
  let serverEnv: Record<string, string>;

  beforeAll(async () => {
    writeFileSync(
      file,
      configFile(`  # caps: a takes 5 a minute, b the rest
  - { model: gpt-4.1-mini, provider: dep-a, id: cap-a, rpm: 5 }
  - { model: gpt-4.1-mini, provider: dep-b, id: cap-b, priority: 1 }
`).replace("routing:\n", "routing:\n  gpt-4o-mini: { cooldown: { failures: 2, window_s: 60, cooldown_s: 60 } }\n"),
    );
    serverEnv = env();
    servers = await startServer({ database: "postgres", instances: 2, env: serverEnv });
    key = await servers.withDatabase(async (db) => (await createKey(db, { name: "routing-instances", scopes: ["generate"] })).key);
  }, 180_000);
  afterAll(async () => {
    await restarted?.dispose();
    await servers?.dispose();
  }, 60_000);
  beforeEach(() => {
    for (const id of ids) emulators[id].reset();
  });

  const post = async (url: string, model: string, text: string) => {
    const res = await fetch(`${url}/v1/llm/generate`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(chat(model, text)),
    });
    await res.text();
    return { status: res.status, deployment: res.headers.get("x-model-service-deployment") };
  };

  it("an rpm cap holds across both instances", async () => {
    // Not across a minute boundary (the caps count per minute).
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 45_000) await sleep(60_000 - intoMinute + 200);
    const picks: (string | null)[] = [];
    for (let i = 0; i < 16; i++) {
      const r = await post(servers.urls[i % 2]!, "gpt-4.1-mini", `cap ${i}`);
      expect(r.status).toBe(200);
      picks.push(r.deployment);
    }
    expect(picks.filter((d) => d === "cap-a").length).toBe(5);
    expect(picks.slice(0, 5).every((d) => d === "cap-a")).toBe(true); // priority 0 first, while under its cap
    expect(count(emulators.a)).toBe(5);
  });

  it("one instance's cooldown holds for the other, and for an instance started after a restart", async () => {
    emulators.b.setDirectives("fault=server_error");
    // Two failures (the threshold), reported by the two instances.
    for (let i = 0; count(emulators.b) < 2 && i < 40; i++)
      expect((await post(servers.urls[i % 2]!, "gpt-4o-mini", `f ${i}`)).status).toBe(200);
    expect(count(emulators.b)).toBe(2);
    await sleep(300); // the other instance's copy of the shared cooldowns is at most 250 ms old
    for (let i = 0; i < 20; i++) expect((await post(servers.urls[i % 2]!, "gpt-4o-mini", `g ${i}`)).deployment).toBe("dep-a/mini-a");
    expect(count(emulators.b)).toBe(2);
    // Every instance stops; a new one on the same database and Redis still sees the cooldown.
    await servers.stop();
    restarted = await startServer({ database: { url: servers.databaseUrl! }, env: serverEnv });
    for (let i = 0; i < 20; i++) expect((await post(restarted.url, "gpt-4o-mini", `h ${i}`)).deployment).toBe("dep-a/mini-a");
    expect(count(emulators.b)).toBe(2);
  }, 120_000);
});
