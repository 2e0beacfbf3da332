// Routing without a host: the file's entries as deployments and policies, the strategies' choices,
// cooldowns (threshold, window, Retry-After), caps, and the same state shared through Redis
// (TEST_REDIS_URL) between two instances' health objects.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { resetEnvForTests } from "../../kernel/env.ts";
import { redisConnected, redisUsable, resetRedisForTests } from "../../kernel/redis.ts";
import { startFaultProxy, targetOf, type FaultProxy } from "@/tests/support/fault-proxy.ts";
import { ConfigFileError, parseConfigFile } from "../../providers/config/config-file.ts";
import { createOpenAICompatibleProvider } from "../../providers/openai-compatible.ts";
import { resetProvidersForTests } from "../../providers/registry.ts";
import { ProviderError } from "../../providers/types.ts";
import { chatModel } from "@/tests/support/catalogue-model.ts";
import { shippedCatalogue } from "../catalogue/catalogue-data.ts";
import { catalogueWithConfig } from "../catalogue/configured-catalogue.ts";
import { DEFAULT_POLICY, deploymentGroup, type Deployment, type DeploymentGroup } from "./deployments.ts";
import { DeploymentHealth } from "./health.ts";
import { Route } from "./router.ts";

const model = chatModel;

const FILE = `
providers:
  a: { type: openai-compatible, base_url: http://127.0.0.1:9/v1 }
  b: { type: openai-compatible, base_url: http://127.0.0.1:9/v1 }
  c: { type: openai-compatible, base_url: http://127.0.0.1:9/v1 }
models:
  - { model: m1, provider: a, type: chat, price: { input: 1, output: 2 }, weight: 3 }
  - { model: m1, provider: b, provider_model: m1-prod, weight: 1, rpm: 2, region: eu, tags: [prod] }
  - { model: m1, provider: a, provider_model: m1-other, id: a-other, priority: 1, price: { input: 0.5, output: 0.5 } }
  - { model: m2, provider: c, type: chat, price: { input: 1, output: 1 } }
routing:
  default: { cooldown: { failures: 2 } }
  m1: { strategy: least-busy, cooldown: { window_s: 10, cooldown_s: 5 } }
`;

const failure = (status = 500, retryAfterMs?: number) =>
  new ProviderError("boom", status === 429 ? "rate_limited" : "server", status, true, retryAfterMs);

beforeAll(() => {
  resetProvidersForTests(
    ["a", "b", "c"].map((id) => createOpenAICompatibleProvider({ id, name: id, baseUrl: "http://127.0.0.1:9/v1", apiKey: "k" })),
  );
});
afterAll(() => resetProvidersForTests());

describe("deployments from model-service.yaml", () => {
  it("makes each models: entry a deployment of its model, with ids, weights, caps and policies (per model over default over the defaults)", () => {
    const config = parseConfigFile("f.yaml", FILE, {});
    const group = deploymentGroup(model("m1"), config);
    expect(group.deployments.map((d) => [d.id, d.provider, d.providerModel, d.exactModel, d.weight, d.priority, d.rpm])).toEqual([
      ["a/m1", "a", "m1", false, 3, 0, undefined],
      ["b/m1-prod", "b", "m1-prod", true, 1, 0, 2],
      ["a-other", "a", "m1-other", true, 1, 1, undefined],
    ]);
    expect(group.deployments[1]).toMatchObject({ region: "eu", tags: ["prod"] });
    expect(group.deployments[2]!.price).toEqual({ inputPerMTok: "0.5", outputPerMTok: "0.5", cachedInputPerMTok: null });
    expect(group.policy).toEqual({ strategy: "least-busy", cooldown: { failures: 2, windowMs: 10_000, cooldownMs: 5_000 } });
    expect(deploymentGroup(model("m2", "c"), config).policy).toEqual({
      strategy: "weighted",
      cooldown: { ...DEFAULT_POLICY.cooldown, failures: 2 },
    });
    // A model the file does not name: its catalogue provider, implicitly.
    const implicit = deploymentGroup(model("m3", "c"), config);
    expect(implicit.deployments).toMatchObject([{ id: "c/m3", provider: "c", providerModel: "m3", exactModel: false, declared: false }]);
  });

  it("of several entries of one model, the catalogue shows the first (provider, price); the others are deployments only", () => {
    const config = parseConfigFile(
      "f.yaml",
      `providers: { a: { type: openai-compatible, base_url: "http://x" }, b: { type: openai-compatible, base_url: "http://y" } }
models:
  - { model: gpt-4o, provider: a }
  - { model: gpt-4o, provider: b, price: { input: 9, output: 9 } }
  - { model: new-one, provider: b, type: chat, price: { input: 1, output: 2 } }
  - { model: new-one, provider: a, price: { input: 5, output: 5 } }`,
      {},
    );
    const byId = new Map(catalogueWithConfig(shippedCatalogue(), config).map((e) => [e.id, e]));
    expect(byId.get("gpt-4o")).toMatchObject({ provider: "a", price: { input: "2.5", output: "10" } });
    expect(byId.get("new-one")).toMatchObject({ provider: "b", price: { input: "1", output: "2" } });
  });

  it.each([
    ["models: [{ model: x, provider: openai, weight: -1 }]", "models[0].weight: a weight of 0 or more"],
    ["models: [{ model: x, provider: openai, rpm: 1.5 }]", "models[0].rpm: a whole number of requests per minute"],
    ["models: [{ model: x, provider: openai, priority: -1 }]", "models[0].priority: a priority of 0 or more"],
    [
      "models: [{ model: x, provider: openai }, { model: x, provider: openai }]",
      'models[1].id: the deployment id "openai/x" is models[0]\'s too',
    ],
    ["routing: { x: { strategy: fastest } }", "routing.x.strategy: one of weighted, least-busy, latency, cost"],
    ["routing: { x: { cooldown: { failures: 0 } } }", "routing.x.cooldown.failures: a whole number of failures"],
    ["routing: { x: { cooldown: { window_s: 0 } } }", "routing.x.cooldown.window_s: seconds, more than 0"],
    ["routing: { x: { retries: 3 } }", "routing.x"],
  ])("refuses %s with one line", (source, message) => {
    let error: unknown;
    try {
      parseConfigFile("f.yaml", source, {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigFileError);
    expect((error as Error).message).toContain(`Invalid configuration file f.yaml: ${message}`);
    expect((error as Error).message).not.toContain("\n");
  });
});

function group(deployments: Partial<Deployment>[], strategy: DeploymentGroup["policy"]["strategy"] = "weighted"): DeploymentGroup {
  const id = randomBytes(3).toString("hex");
  return {
    model: `m-${id}`,
    policy: { strategy, cooldown: { failures: 2, windowMs: 60_000, cooldownMs: 30_000 } },
    deployments: deployments.map((d, i) => ({
      id: `${id}-${i}`,
      model: `m-${id}`,
      provider: "a",
      providerModel: "x",
      exactModel: false,
      weight: 1,
      priority: 0,
      tags: [],
      declared: true,
      ...d,
    })),
  };
}

async function pickCounts(route: Route, n: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const c = await route.choose(new Set());
    if (c.kind !== "deployment") throw new Error(`no deployment: ${c.kind}`);
    counts.set(c.deployment.id, (counts.get(c.deployment.id) ?? 0) + 1);
  }
  return counts;
}

describe("choosing a deployment (memory)", () => {
  let health: DeploymentHealth;
  beforeEach(() => {
    health = new DeploymentHealth();
  });

  it("weighted: in proportion to the weights, within the lowest priority", async () => {
    const g = group([{ weight: 3 }, { weight: 1 }, { weight: 5, priority: 1 }]);
    const counts = await pickCounts(new Route(model(g.model), health, g), 4000);
    expect(counts.get(g.deployments[2]!.id)).toBeUndefined();
    expect(counts.get(g.deployments[0]!.id)! / 4000).toBeGreaterThan(0.7);
    expect(counts.get(g.deployments[0]!.id)! / 4000).toBeLessThan(0.8);
  });

  it("least-busy: the one with fewest in flight; latency: the fastest measured; cost: the cheapest", async () => {
    const busy = group([{}, {}], "least-busy");
    const r1 = new Route(model(busy.model), health, busy);
    r1.started(busy.deployments[0]!);
    expect(await pickCounts(r1, 50)).toEqual(new Map([[busy.deployments[1]!.id, 50]]));

    const fast = group([{}, {}], "latency");
    const r2 = new Route(model(fast.model), health, fast);
    r2.started(fast.deployments[0]!).succeeded(80, 10);
    r2.started(fast.deployments[1]!).succeeded(5, 10);
    const counts = await pickCounts(r2, 400);
    expect(counts.get(fast.deployments[1]!.id)!).toBeGreaterThan(360);
    expect(counts.get(fast.deployments[0]!.id) ?? 0).toBeGreaterThan(0); // exploration

    const cheap = group(
      [{ price: { inputPerMTok: "2", outputPerMTok: "2" } }, { price: { inputPerMTok: "1", outputPerMTok: "1" } }],
      "cost",
    );
    expect(await pickCounts(new Route(model(cheap.model), health, cheap), 20)).toEqual(new Map([[cheap.deployments[1]!.id, 20]]));
  });

  it("prefers a deployment the call has not tried; cools one down after the threshold; a 429's Retry-After cools at once", async () => {
    const g = group([{}, {}]);
    const route = new Route(model(g.model), health, g);
    const [d0, d1] = g.deployments as [Deployment, Deployment];
    expect(await pickCounts(route, 20)).not.toEqual(new Map([[d0.id, 20]]));
    const tried = await route.choose(new Set([d0.id]));
    expect(tried).toMatchObject({ kind: "deployment", deployment: { id: d1.id } });
    expect(route.hasAlternative(new Set([d0.id]))).toBe(true);
    expect(route.hasAlternative(new Set([d0.id, d1.id]))).toBe(false);

    await route.started(d0).failed(failure(), 5);
    expect(health.cooling(d0)).toBe(false);
    await route.started(d0).failed(failure(), 5);
    expect(health.cooling(d0)).toBe(true);
    expect(health.stats(d0.id).cooledUntil - Date.now()).toBeGreaterThan(29_000);
    expect(await pickCounts(route, 20)).toEqual(new Map([[d1.id, 20]]));
    // The caller's own 4xx says nothing about a deployment.
    await route.started(d1).failed(new ProviderError("bad", "invalid_request", 400, false), 5);
    await route.started(d1).failed(new ProviderError("bad", "invalid_request", 400, false), 5);
    expect(health.cooling(d1)).toBe(false);
    await route.started(d1).failed(failure(429, 45_000), 5);
    expect(health.stats(d1.id).cooledUntil - Date.now()).toBeGreaterThan(44_000);
    const wait = await route.choose(new Set());
    expect(wait.kind).toBe("wait");
    expect(wait.kind === "wait" && wait.untilMs).toBe(health.stats(d0.id).cooledUntil);
    expect(health.stats(d1.id).inFlight).toBe(0);
  });

  it("a model with one deployment is never cooled: it is called as before", async () => {
    const g = group([{}]);
    const route = new Route(model(g.model), health, g);
    for (let i = 0; i < 3; i++) await route.started(g.deployments[0]!).failed(failure(), 1);
    expect(await route.choose(new Set())).toMatchObject({ kind: "deployment" });
  });

  it("skips a deployment at its rpm cap, and says to wait for the minute's end when every one is", async () => {
    const g = group([{ rpm: 2 }, { rpm: 1 }]);
    const route = new Route(model(g.model), health, g);
    const counts = await pickCounts(route, 3);
    expect(counts).toEqual(
      new Map([
        [g.deployments[0]!.id, 2],
        [g.deployments[1]!.id, 1],
      ]),
    );
    const wait = await route.choose(new Set());
    expect(wait).toMatchObject({ kind: "wait", untilMs: health.capResetAt(), why: "at its requests or tokens per minute cap" });
  });
});

const redisUrl = process.env.TEST_REDIS_URL?.trim();

describe.runIf(redisUrl)("shared through Redis (TEST_REDIS_URL)", () => {
  beforeAll(async () => {
    Object.assign(process.env, {
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: `mstest-routing-${randomBytes(4).toString("hex")}:`,
      LOG_LEVEL: "silent",
    });
    resetEnvForTests();
    resetRedisForTests();
    await redisConnected();
    expect(redisUsable()).toBe(true);
  });
  afterAll(() => {
    resetRedisForTests();
    delete process.env.REDIS_URL;
    delete process.env.REDIS_KEY_PREFIX;
    resetEnvForTests();
  });

  it("one instance's failures cool the deployment for another, and a new instance (a restart) still sees it", async () => {
    const g = group([{}, {}]);
    const [d0] = g.deployments as [Deployment, Deployment];
    const one = new Route(model(g.model), new DeploymentHealth(), g);
    const two = new Route(model(g.model), new DeploymentHealth(), g);
    await one.started(d0).failed(failure(), 1);
    await two.started(d0).failed(failure(), 1); // the second failure, counted together: the threshold
    const restarted = new DeploymentHealth();
    const three = new Route(model(g.model), restarted, g);
    expect(await pickCounts(three, 10)).toEqual(new Map([[g.deployments[1]!.id, 10]]));
    expect(restarted.stats(d0.id).cooledUntil - Date.now()).toBeGreaterThan(29_000);
  });

  it("caps count across instances", async () => {
    const g = group([{ rpm: 3 }]);
    const routes = [new Route(model(g.model), new DeploymentHealth(), g), new Route(model(g.model), new DeploymentHealth(), g)];
    const kinds: string[] = [];
    for (let i = 0; i < 6; i++) kinds.push((await routes[i % 2]!.choose(new Set())).kind);
    expect(kinds).toEqual(["deployment", "deployment", "deployment", "wait", "wait", "wait"]);
  });
});

describe.runIf(redisUrl)("when Redis stops answering (TEST_REDIS_URL behind a fault proxy)", () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await startFaultProxy(targetOf(redisUrl!, 6379));
    Object.assign(process.env, {
      REDIS_URL: proxy.urlFor(redisUrl!),
      REDIS_KEY_PREFIX: `mstest-routing-${randomBytes(4).toString("hex")}:`,
      REDIS_COMMAND_TIMEOUT_MS: "50",
      LOG_LEVEL: "silent",
    });
    resetEnvForTests();
    resetRedisForTests();
    await redisConnected();
    expect(redisUsable()).toBe(true);
  });
  afterAll(async () => {
    resetRedisForTests();
    await proxy?.close();
    for (const k of ["REDIS_URL", "REDIS_KEY_PREFIX", "REDIS_COMMAND_TIMEOUT_MS"]) delete process.env[k];
    resetEnvForTests();
  });

  it("choosing, caps and cooldowns go on in memory, each Redis call costing at most its deadline", async () => {
    await proxy.set("hung");
    const g = group([{ rpm: 2 }, {}]);
    const [d0, d1] = g.deployments as [Deployment, Deployment];
    const health = new DeploymentHealth();
    const route = new Route(model(g.model), health, g);
    const started = performance.now();
    for (let i = 0; i < 2; i++) await route.started(d1).failed(failure(), 1);
    expect(health.cooling(d1)).toBe(true); // counted in memory
    const picks = await pickCounts(route, 2);
    expect(picks).toEqual(new Map([[d0.id, 2]]));
    // d0 at its cap (counted in memory), d1 cooling: wait for the first back (the minute's end or d1's cooldown's).
    const wait = await route.choose(new Set());
    expect(wait).toMatchObject({ kind: "wait", untilMs: Math.min(health.capResetAt(), health.stats(d1.id).cooledUntil) });
    // A few deadlines at most (the circuit then opens and Redis is not tried at all).
    expect(performance.now() - started).toBeLessThan(1000);
    await proxy.set("up");
  });
});
