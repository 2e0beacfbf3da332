// bench/cache: the service time of a response-cache hit against a miss, with the emulator upstream.
//   1. in process: `generate()` (the service function REST and tRPC call) timed around the call,
//      for misses (a new prompt each time: provider call, usage event, cache store) and for hits
//      (one prompt, answered from the in-process LRU; usage event recorded);
//   2. over HTTP: POST /v1/llm/generate on a server process (auth, rate limit, JSON), one client,
//      keep-alive, misses against hits.
// Prints p50/p99/mean per path and the miss/hit ratios.
//
//   npm run bench:cache [-- --requests 2000 --database-url postgresql://...]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { startProviderEmulator } from "../tests/emulators/provider-emulator.ts";
import { fmt, load, percentile, startBenchServer, type LoadResult } from "./lib.ts";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "2000" },
    "database-url": { type: "string" },
  },
});
const total = Number(values.requests);
const databaseUrl = values["database-url"];
const KEY = "ms_bench_cache_key_0123456789abcdefghij";

const emulator = await startProviderEmulator({ maxLogEntries: 0 });
const inProcessDir = mkdtempSync(path.join(tmpdir(), "bench-cache-inproc-"));
Object.assign(process.env, {
  DATA_DIR: inProcessDir,
  DATABASE_URL: databaseUrl ?? "",
  REDIS_URL: "",
  LOG_LEVEL: "silent",
  OPENAI_API_KEY: emulator.openaiKey!,
  OPENAI_BASE_URL: emulator.openaiBaseUrl,
});

// ---------------------------------------------------------------------------------------------
// 1. In process

const { closeDb, getDatabase } = await import("../server/db/index.ts");
const { catalogueReady, syncCatalogue } = await import("../server/features/catalogue/models.ts");
const { generate } = await import("../server/features/inference/generation.ts");
const { usageWriter } = await import("../server/features/usage/usage.ts");
const { flushCacheWrites } = await import("../server/features/inference/cache-store.ts");
await getDatabase();
await syncCatalogue();
await catalogueReady();

const identity = {
  kind: "apiKey" as const,
  apiKeyId: "bench",
  userId: null,
  role: "user" as const,
  tier: "premium" as const,
  scopes: ["generate" as const],
};
let n = 0;
const call = (content: string, mode: "on" | "off" = "on") =>
  generate(
    { model: "gpt-4o-mini", messages: [{ role: "user", content }], temperature: 0, cache: { mode } },
    { identity, endpoint: "/bench/cache", requestId: `bench-${++n}` },
  );

function timings(samples: number[]) {
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), mean: samples.reduce((a, b) => a + b, 0) / samples.length };
}

async function timeCalls(count: number, prompt: (i: number) => string, mode: "on" | "off" = "on"): Promise<ReturnType<typeof timings>> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    const out = await call(prompt(i), mode);
    samples.push(performance.now() - t);
    if (!out.text) throw new Error("empty answer");
  }
  return timings(samples);
}

// Warm up both paths, then measure them interleaved in two rounds; keep the better round of each.
await timeCalls(200, (i) => `warm miss ${i}`);
await call("the cached prompt");
await timeCalls(200, () => "the cached prompt");
let missIn = { p50: Infinity, p99: Infinity, mean: Infinity };
let hitIn = { p50: Infinity, p99: Infinity, mean: Infinity };
let offIn = { p50: Infinity, p99: Infinity, mean: Infinity };
for (const round of [1, 2]) {
  const o = await timeCalls(Math.round(total / 2), (i) => `round ${round} uncached ${i}`, "off");
  const m = await timeCalls(Math.round(total / 2), (i) => `round ${round} miss ${i}`);
  const h = await timeCalls(Math.round(total / 2), () => "the cached prompt");
  if (o.p50 < offIn.p50) offIn = o;
  if (m.p50 < missIn.p50) missIn = m;
  if (h.p50 < hitIn.p50) hitIn = h;
  await usageWriter().flush();
  await flushCacheWrites();
}
const inProcessEvents = await (
  await getDatabase()
).rawQuery<{ status: string; n: string }>("select status, count(*)::text as n from usage_events group by status order by status");

// ---------------------------------------------------------------------------------------------
// 2. Over HTTP, on a server process

// The in-process run's database when one was named, else an embedded one of its own.
const server = await startBenchServer({
  databaseUrl,
  env: { OPENAI_API_KEY: emulator.openaiKey!, OPENAI_BASE_URL: emulator.openaiBaseUrl },
  key: { name: "bench-cache", secret: KEY },
});
const pool = new Pool(server.url, { connections: 4 });
let httpSeq = 0;
let httpStatus = new Map<string, number>();
async function httpCall(content: string): Promise<boolean> {
  const r = await pool.request({
    path: "/v1/llm/generate",
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content }], temperature: 0, cache: true }),
  });
  await r.body.text();
  const s = String(r.headers["x-model-service-cache"]);
  httpStatus.set(s, (httpStatus.get(s) ?? 0) + 1);
  return r.statusCode === 200;
}
await load(200, 1, () => httpCall(`http warm miss ${++httpSeq}`));
await load(200, 1, () => httpCall("http cached prompt"));
httpStatus = new Map();
let missHttp: LoadResult | undefined;
let hitHttp: LoadResult | undefined;
for (const _round of [1, 2]) {
  const m = await load(Math.round(total / 2), 1, () => httpCall(`http miss ${++httpSeq}`));
  const h = await load(Math.round(total / 2), 1, () => httpCall("http cached prompt"));
  if (!missHttp || m.p50 < missHttp.p50) missHttp = m;
  if (!hitHttp || h.p50 < hitHttp.p50) hitHttp = h;
}

console.log(
  `\nbench/cache — ${new Date().toISOString()} — database: ${databaseUrl ? "PostgreSQL" : "PGlite (embedded)"}, cache store: ${databaseUrl ? "PostgreSQL" : "PGlite"} behind the in-process LRU`,
);
console.log(
  `${Math.round(total / 2)} uncached calls (in process only), ${Math.round(total / 2)} misses and ${Math.round(total / 2)} hits per round, one at a time, best of 2 interleaved rounds\n`,
);
console.log("path                          p50 ms   p99 ms   mean ms");
const line = (label: string, r: { p50: number; p99: number; mean: number }) =>
  console.log(`${label.padEnd(28)} ${fmt(r.p50, 3).padStart(8)} ${fmt(r.p99, 3).padStart(8)} ${fmt(r.mean, 3).padStart(9)}`);
line("generate() no cache", offIn);
line("generate() miss (emulator)", missIn);
line("generate() hit", hitIn);
line("HTTP /v1/llm/generate miss", missHttp!);
line("HTTP /v1/llm/generate hit", hitHttp!);
console.log("");
console.log(
  `service time, miss/hit: p50 ${fmt(missIn.p50 / hitIn.p50, 1)}x, mean ${fmt(missIn.mean / hitIn.mean, 1)}x (hit p50 ${fmt(hitIn.p50 * 1000, 0)} µs)`,
);
console.log(`HTTP round trip, miss/hit: p50 ${fmt(missHttp!.p50 / hitHttp!.p50, 2)}x, mean ${fmt(missHttp!.mean / hitHttp!.mean, 2)}x`);
console.log(`in-process usage events by status: ${inProcessEvents.map((r) => `${r.status} ${r.n}`).join(", ")}`);
console.log(
  `HTTP cache header counts: ${[...httpStatus].map(([k, v]) => `${k} ${v}`).join(", ")}; errors ${missHttp!.errors + hitHttp!.errors}`,
);

await pool.close();
await server.dispose();
await usageWriter().stop();
await closeDb();
await emulator.close();
rmSync(inProcessDir, { recursive: true, force: true });
process.exit(0);
