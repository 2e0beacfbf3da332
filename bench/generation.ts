// bench/generation: what the gateway adds over calling the provider directly.
// One run, same emulator upstream, same prompt: (a) a client calling the emulator directly,
// (b) the same client calling our server's POST /v1/llm/generate (a separate process, started as
// `npm start -- --api-only` would be, with a real API key, auth and usage recording on).
// Prints p50/p99 latency at 1 client and requests/s at N clients, and the ratios.
//
//   npm run bench:generation [-- --requests 2000 --concurrency 10 --database-url postgresql://...]
import { parseArgs } from "node:util";
import { Pool } from "undici";
import type { DatabaseHandle } from "../server/db/index.ts";
import { startProviderEmulator } from "../tests/emulators/provider-emulator.ts";
import { emulatorEnv } from "../tests/support/host.ts";
import { fmt, load, startBenchServer, type LoadResult } from "./lib.ts";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "10" },
    "database-url": { type: "string" },
  },
});
const total = Number(values.requests);
const concurrency = Number(values.concurrency);
const KEY = "ms_bench_generation_key_0123456789abcd";

const emulator = await startProviderEmulator({ maxLogEntries: 0 });
const databaseUrl = values["database-url"];
const countEvents = async (db: DatabaseHandle) =>
  Number((await db.rawQuery<{ n: string }>("select count(*) as n from usage_events"))[0]!.n);
let eventsBefore = 0;

const server = await startBenchServer({
  databaseUrl,
  env: emulatorEnv(emulator, ["openai"]),
  key: { name: "bench", secret: KEY },
  seed: async (db) => void (eventsBefore = await countEvents(db)),
});

const prompt = "Say something short about gateways";
const directBody = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: prompt }] });
const gatewayBody = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: prompt }] });
const direct = new Pool(emulator.url, { connections: 64 });
const gateway = new Pool(server.url, { connections: 64 });

async function callDirect(): Promise<boolean> {
  const r = await direct.request({
    path: "/v1/chat/completions",
    method: "POST",
    headers: { authorization: `Bearer ${emulator.openaiKey}`, "content-type": "application/json" },
    body: directBody,
  });
  await r.body.text();
  return r.statusCode === 200;
}

const gatewayErrors = new Map<string, number>();
async function callGateway(): Promise<boolean> {
  const r = await gateway.request({
    path: "/v1/llm/generate",
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: gatewayBody,
  });
  const text = await r.body.text();
  if (r.statusCode !== 200) {
    const what = `${r.statusCode} ${text.slice(0, 160)}`;
    gatewayErrors.set(what, (gatewayErrors.get(what) ?? 0) + 1);
  }
  return r.statusCode === 200;
}

// Warm both paths (JIT, connection pools, caches).
await load(300, 4, callDirect);
await load(300, 4, callGateway);

const results: Record<string, LoadResult> = {};
// Interleaved rounds so that machine noise hits both paths alike.
for (const round of [1, 2]) {
  for (const [name, fn] of [
    ["direct", callDirect],
    ["gateway", callGateway],
  ] as const) {
    const one = await load(Math.round(total / 2), 1, fn);
    const many = await load(total, concurrency, fn);
    const keep = (k: string, r: LoadResult) => {
      const prev = results[k];
      if (!prev || round === 1) results[k] = r;
      else
        results[k] = {
          ...r,
          p50: Math.min(prev.p50, r.p50),
          p99: Math.min(prev.p99, r.p99),
          rps: Math.max(prev.rps, r.rps),
          errors: prev.errors + r.errors,
        };
    };
    keep(`${name}@1`, one);
    keep(`${name}@${concurrency}`, many);
  }
}

const d1 = results["direct@1"]!;
const g1 = results["gateway@1"]!;
const dN = results[`direct@${concurrency}`]!;
const gN = results[`gateway@${concurrency}`]!;

console.log(`\nbench/generation — ${new Date().toISOString()} — database: ${databaseUrl ? "PostgreSQL" : "PGlite (embedded)"}`);
console.log(`${total / 2} sequential requests and ${total} at ${concurrency} clients per path, best of 2 interleaved rounds\n`);
console.log("path                 clients   p50 ms   p99 ms   mean ms     req/s   errors");
for (const [label, r, c] of [
  ["emulator direct", d1, 1],
  ["gateway /generate", g1, 1],
  ["emulator direct", dN, concurrency],
  ["gateway /generate", gN, concurrency],
] as const) {
  console.log(
    `${label.padEnd(20)} ${String(c).padStart(7)} ${fmt(r.p50).padStart(8)} ${fmt(r.p99).padStart(8)} ${fmt(r.mean).padStart(9)} ${fmt(r.rps, 0).padStart(9)} ${String(r.errors).padStart(8)}`,
  );
}
console.log("");
console.log(`added latency at 1 client:  p50 ${fmt(g1.p50 - d1.p50)} ms (target ≤ 1 ms), p99 ${fmt(g1.p99 - d1.p99)} ms (target ≤ 5 ms)`);
console.log(
  `ratios gateway/direct:      p50 ${fmt(g1.p50 / d1.p50)}x, p99 ${fmt(g1.p99 / d1.p99)}x, req/s at ${concurrency} clients ${fmt(gN.rps / dN.rps)}x`,
);

for (const [what, n] of gatewayErrors) console.log(`gateway error ×${n}: ${what}`);
await gateway.close();
await direct.close();
const [code] = await server.stop();
const eventsAfter = await server.withDatabase(countEvents);
const gatewayCalls = 300 + 2 * (total / 2 + total);
console.log(`usage events written: ${eventsAfter - eventsBefore} for ${gatewayCalls} gateway calls (server exit ${code})`);
await server.dispose();
await emulator.close();
process.exit(eventsAfter - eventsBefore === gatewayCalls ? 0 : 1);
