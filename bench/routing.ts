// bench/routing: what choosing a deployment costs, and how fast a failing deployment stops getting
// traffic. One run, each figure next to a baseline measured in the same run:
//   (a) choosing, in this process: Route.choose + the attempt's bookkeeping per request, in
//       microseconds, for a group of three deployments under each strategy, against a model with
//       one deployment (what every call did before routing);
//   (b) the lean host (npm start -- --api-only, PGlite, a real key, usage recording on): requests/s
//       and p50 of POST /v1/llm/generate for a model of three deployments on three emulators,
//       against a model with its one implicit deployment on the first emulator;
//   (c) failover: under load at 10 clients, one of the three deployments starts answering 500;
//       the time from its first failure to the last request that reached it (then it is cooling
//       down: 3 failures in 60 s, 30 s), the requests it got meanwhile, and that time as a multiple
//       of the mean request time; and whether any caller saw a failure.
//
//   npm run bench:routing [-- --picks 200000 --requests 3000 --clients 10]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { openDatabase } from "../server/db/index.ts";
import { hashApiKey } from "../server/access/auth.ts";
import { chatModel } from "../tests/support/catalogue-model.ts";
import { DeploymentHealth } from "../server/features/routing/health.ts";
import { Route } from "../server/features/routing/router.ts";
import type { Deployment, DeploymentGroup, Strategy } from "../server/features/routing/deployments.ts";
import { createOpenAICompatibleProvider } from "../server/providers/openai-compatible.ts";
import { resetProvidersForTests } from "../server/providers/registry.ts";
import { EMULATOR_OPENAI_KEY, startProviderEmulator, type ProviderEmulator } from "../tests/emulators/provider-emulator.ts";
import { startServerProcess } from "../tests/support/server-process.ts";
import { fmt, load, type LoadResult } from "./lib.ts";

const { values } = parseArgs({
  options: {
    picks: { type: "string", default: "200000" },
    requests: { type: "string", default: "3000" },
    clients: { type: "string", default: "10" },
  },
});
const picks = Number(values.picks);
const total = Number(values.requests);
const clients = Number(values.clients);

// ---------------------------------------------------------------------------------------------
// (a) choosing, in process

const catalogueModel = chatModel("bench-model", "p0");
resetProvidersForTests(
  ["p0", "p1", "p2"].map((id) => createOpenAICompatibleProvider({ id, name: id, baseUrl: "http://127.0.0.1:9/v1", apiKey: "k" })),
);
const deployment = (i: number): Deployment => ({
  id: `p${i}/bench-model`,
  model: "bench-model",
  provider: `p${i}`,
  providerModel: "bench-model",
  exactModel: false,
  weight: i + 1,
  priority: 0,
  tags: [],
  price: { inputPerMTok: String(i + 1), outputPerMTok: "1" },
  declared: true,
});
const groupOf = (n: number, strategy: Strategy): DeploymentGroup => ({
  model: "bench-model",
  policy: { strategy, cooldown: { failures: 3, windowMs: 60_000, cooldownMs: 30_000 } },
  deployments: Array.from({ length: n }, (_, i) => deployment(i)),
});

async function microsPerPick(group: DeploymentGroup): Promise<number> {
  const route = new Route(catalogueModel, new DeploymentHealth(), group);
  const tried = new Set<string>();
  const once = async () => {
    const c = await route.choose(tried);
    if (c.kind !== "deployment") throw new Error(c.kind);
    route.started(c.deployment).succeeded(1, 10);
  };
  for (let i = 0; i < 20_000; i++) await once();
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const started = performance.now();
    for (let i = 0; i < picks; i++) await once();
    best = Math.min(best, ((performance.now() - started) * 1000) / picks);
  }
  return best;
}

const micro: [string, number][] = [["one deployment (baseline)", await microsPerPick(groupOf(1, "weighted"))]];
for (const strategy of ["weighted", "least-busy", "latency", "cost"] as const) {
  micro.push([`three, ${strategy}`, await microsPerPick(groupOf(3, strategy))]);
}
resetProvidersForTests();

// ---------------------------------------------------------------------------------------------
// (b) and (c): the lean host

const KEY = "ms_bench_routing_key_0123456789abcdefgh";
const emulators: ProviderEmulator[] = [];
for (let i = 0; i < 3; i++) emulators.push(await startProviderEmulator({ maxLogEntries: 1_000_000 }));
const dataDir = mkdtempSync(path.join(tmpdir(), "bench-routing-"));
const configPath = path.join(dataDir, "model-service.yaml");
writeFileSync(
  configPath,
  `providers:
${emulators.map((e, i) => `  dep-${i}: { type: openai, base_url: "${e.openaiBaseUrl}", api_key: ${EMULATOR_OPENAI_KEY} }`).join("\n")}
models:
${emulators.map((_, i) => `  - { model: gpt-4o-mini, provider: dep-${i} }`).join("\n")}
`,
);
const setup = await openDatabase({ dataDir });
await setup.prisma.apiKey.upsert({
  where: { keyHash: hashApiKey(KEY) },
  create: { name: "bench", prefix: KEY.slice(0, 10), keyHash: hashApiKey(KEY), tier: "premium", scopes: ["generate"] },
  update: {},
});
await setup.close();
const server = await startServerProcess({
  DATA_DIR: dataDir,
  DATABASE_URL: "",
  REDIS_URL: "",
  MODEL_SERVICE_CONFIG: configPath,
  OPENAI_API_KEY: emulators[0]!.openaiKey!,
  OPENAI_BASE_URL: emulators[0]!.openaiBaseUrl,
  RATE_LIMITS: '{"generate":"1000000000/minute","tier:premium":"1000000000/hour"}',
});
const pool = new Pool(server.url, { connections: 64 });
const bodyOf = (model: string) => JSON.stringify({ model, messages: [{ role: "user", content: "Say something short about routing" }] });
const routedBody = bodyOf("gpt-4o-mini");
const singleBody = bodyOf("gpt-4o");
let failures = 0;
const call = (body: string) => async () => {
  const r = await pool.request({
    path: "/v1/llm/generate",
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body,
  });
  await r.body.text();
  if (r.statusCode !== 200) failures++;
  return r.statusCode === 200;
};

await load(500, 4, call(singleBody));
await load(500, 4, call(routedBody));
const e2e: Record<string, LoadResult> = {};
for (const round of [1, 2]) {
  for (const [name, body] of [
    ["single", singleBody],
    ["routed", routedBody],
  ] as const) {
    for (const c of [1, clients]) {
      const r = await load(c === 1 ? Math.round(total / 2) : total, c, call(body));
      const k = `${name}@${c}`;
      const prev = e2e[k];
      e2e[k] =
        !prev || round === 1 ? r : { ...r, p50: Math.min(prev.p50, r.p50), rps: Math.max(prev.rps, r.rps), errors: prev.errors + r.errors };
    }
  }
}
const failuresBeforeFailover = failures;

// (c) failover under load
for (const e of emulators) e.reset();
const failing = emulators[2]!;
let switched = false;
const loaded = await load(total, clients, async () => {
  const ok = await call(routedBody)();
  // Once it has taken some traffic, it starts failing (its log says when).
  if (!switched && failing.requests.length >= 20) {
    failing.setDirectives("fault=server_error");
    switched = true;
  }
  return ok;
});
const failed = failing.requests.filter((r) => r.status === 500);
const firstFailure = failed[0]?.receivedAt ?? NaN;
const lastToFailing = failing.requests.at(-1)?.receivedAt ?? NaN;
const failoverMs = lastToFailing - firstFailure;

console.log(`\nbench/routing — ${new Date().toISOString()} — node ${process.version}`);
console.log(`\n(a) choosing a deployment, in process: best of 3 rounds of ${picks.toLocaleString("en-US")} picks (choose + bookkeeping)`);
console.log("group                         µs/pick   ratio to one deployment");
const base = micro[0]![1];
for (const [label, us] of micro) console.log(`${label.padEnd(28)} ${fmt(us, 3).padStart(8)}   ${fmt(us / base)}x`);
console.log(`\n(b) POST /v1/llm/generate on the lean host (PGlite), best of 2 interleaved rounds`);
console.log("model                            clients   p50 ms   mean ms     req/s   errors");
for (const [label, key] of [
  ["gpt-4o (one deployment)", "single@1"],
  ["gpt-4o-mini (three, weighted)", "routed@1"],
  ["gpt-4o (one deployment)", `single@${clients}`],
  ["gpt-4o-mini (three, weighted)", `routed@${clients}`],
] as const) {
  const r = e2e[key]!;
  console.log(
    `${label.padEnd(32)} ${key.split("@")[1]!.padStart(7)} ${fmt(r.p50).padStart(8)} ${fmt(r.mean).padStart(9)} ${fmt(r.rps, 0).padStart(9)} ${String(r.errors).padStart(8)}`,
  );
}
const s1 = e2e["single@1"]!;
const r1 = e2e["routed@1"]!;
const sN = e2e[`single@${clients}`]!;
const rN = e2e[`routed@${clients}`]!;
console.log(
  `ratios routed/one deployment: p50 at 1 client ${fmt(r1.p50 / s1.p50)}x (+${fmt((r1.p50 - s1.p50) * 1000, 0)} µs), req/s at ${clients} clients ${fmt(rN.rps / sN.rps)}x`,
);
console.log(`\n(c) failover at ${clients} clients: one of three deployments starts answering 500 (cooldown after 3 failures)`);
console.log(
  `first failure → last request reaching it: ${fmt(failoverMs)} ms; requests it got after its first failure: ${failing.requests.filter((r) => r.receivedAt >= firstFailure).length} (${failed.length} answered 500)`,
);
console.log(`that is ${fmt(failoverMs / loaded.mean)}x the mean request time (${fmt(loaded.mean)} ms) under this load`);
console.log(`caller-visible failures: ${loaded.errors} during failover, ${failuresBeforeFailover} before`);

await pool.close();
await server.stop();
for (const e of emulators) await e.close();
rmSync(dataDir, { recursive: true, force: true });
process.exit(loaded.errors === 0 && failuresBeforeFailover === 0 ? 0 : 1);
