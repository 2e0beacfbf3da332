// bench/gateway: our data plane against the floor and against Portkey's open-source gateway, one
// run, the same emulator upstream and the same OpenAI chat body for all:
//   emulator   the provider emulator alone (what every other path adds to)
//   bare       a bare node:http + undici proxy (bench/bare-proxy.ts): the floor
//   portkey    @portkey-ai/gateway 1.15.2 --headless, x-portkey-provider: openai + custom host
//   next       our POST /v1/chat/completions through Next's request pipeline (npm start with
//              SERVE_API_THROUGH_NEXT=1; needs `npm run build` first)
//   lean       our POST /v1/chat/completions on the lean node:http host (npm start -- --api-only),
//              on PostgreSQL (a scratch database on --database-url, default TEST_DATABASE_URL) when
//              one is given, else on the embedded PGlite; the OpenAI passthrough on (the default)
//   lean-sdk   the lean path with OPENAI_PASSTHROUGH=off: the body parsed whole, the call through the openai SDK
//   lean-pglite the lean path on the embedded PGlite (its writes run on the server's main thread)
//   lean-budget the lean path with a monthly budget on the key: every call reserves its largest
//              cost in the budget ledger and settles it (the database's ledger: one function call each)
//   lean-redis, lean-budget-redis   the same two with REDIS_URL (--redis-url, default TEST_REDIS_URL):
//              rate limits and, with the budget, the ledger in Redis (one Lua script each)
// Our paths run with a real API key, rate limiting and usage recording on. At 1, 10 and 50 clients:
// requests/s, p50, p99, the latency each adds over the emulator alone, and the CPU time the serving
// process spent per request (from /proc: steadier than timings when the machine is busy); then the ratios.
//
//   npm run bench:gateway [-- --requests 3000 --clients 1,10,50 --paths emulator,bare,portkey,next,lean,lean-pglite
//                            --soak 300 --database-url postgresql://postgres@127.0.0.1:5432/postgres
//                            --redis-url redis://127.0.0.1:6379]
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import type { Servers } from "../tests/support/host.ts";
import { createScratchPostgres, type ScratchPostgres } from "../tests/support/scratch-postgres.ts";
import { fmt, load, percentile, startBenchServer, type LoadResult } from "./lib.ts";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "3000" },
    clients: { type: "string", default: "1,10,50" },
    paths: { type: "string", default: "emulator,bare,portkey,next,lean" },
    soak: { type: "string", default: "0" },
    "database-url": { type: "string", default: process.env.TEST_DATABASE_URL ?? "" },
    "redis-url": { type: "string", default: process.env.TEST_REDIS_URL ?? "" },
    /** A folder: our servers write a V8 CPU profile there when they stop (open it in Chrome's DevTools). */
    "cpu-prof": { type: "string", default: "" },
  },
});
const total = Number(values.requests);
const clientCounts = values.clients.split(",").map(Number);
const paths = values.paths.split(",");
const soakSeconds = Number(values.soak);
const KEY = "ms_bench_gateway_key_0123456789abcdefgh";
const EMULATOR_KEY = "sk-bench-emulator-key-0123456789";
const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Say something short about gateways" }] });
const streamBody = JSON.stringify({
  model: "gpt-4o-mini",
  stream: true,
  stream_options: { include_usage: true },
  messages: [{ role: "user", content: "Say something short about gateways" }],
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(url: string, init?: RequestInit, timeoutMs = 90_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(url, init);
      await r.text();
      return;
    } catch {
      if (Date.now() > until) throw new Error(`${url} did not answer`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function child(args: string[], env: Record<string, string> = {}, stderr: "inherit" | "ignore" = "inherit"): ChildProcess {
  return spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", stderr] });
}

const children: ChildProcess[] = [];
/** Our paths' servers (each with its database, to count the usage rows after the run). */
const ours = new Map<string, Servers>();

const emulatorPort = await freePort();
const emulatorProcess = child(["--import", "tsx", "tests/emulators/main.ts", "--port", String(emulatorPort), "--openai-key", EMULATOR_KEY]);
children.push(emulatorProcess);
const emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
await waitFor(`${emulatorUrl}/v1/models`, { headers: { authorization: `Bearer ${EMULATOR_KEY}` } });

/** The process that serves a path: its CPU time per request is printed beside the timings. */
type Target = { name: string; url: string; path: string; headers: Record<string, string>; pid?: number };
const targets: Target[] = [];
const openaiHeaders = { authorization: `Bearer ${EMULATOR_KEY}`, "content-type": "application/json" };
if (paths.includes("emulator"))
  targets.push({ name: "emulator", url: emulatorUrl, path: "/v1/chat/completions", headers: openaiHeaders, pid: emulatorProcess.pid });

if (paths.includes("bare")) {
  const port = await freePort();
  const bare = child(["--import", "tsx", "bench/bare-proxy.ts", String(port), emulatorUrl]);
  children.push(bare);
  await waitFor(`http://127.0.0.1:${port}/v1/models`);
  targets.push({ name: "bare", url: `http://127.0.0.1:${port}`, path: "/v1/chat/completions", headers: openaiHeaders, pid: bare.pid });
}

if (paths.includes("portkey")) {
  const port = await freePort();
  // Its log goes nowhere: it prints a stack trace for each streamed request it cannot serve (below).
  const portkey = child(["node_modules/@portkey-ai/gateway/build/start-server.js", `--port=${port}`, "--headless"], {}, "ignore");
  children.push(portkey);
  await waitFor(`http://127.0.0.1:${port}/`);
  targets.push({
    name: "portkey",
    url: `http://127.0.0.1:${port}`,
    path: "/v1/chat/completions",
    headers: { ...openaiHeaders, "x-portkey-provider": "openai", "x-portkey-custom-host": `${emulatorUrl}/v1` },
    pid: portkey.pid,
  });
}

const scratchDatabases: ScratchPostgres[] = [];
const serverUrl = values["database-url"];

/** A fresh database on the PostgreSQL server for one of our paths. */
async function scratchDatabase(name: string): Promise<string> {
  const db = await createScratchPostgres(serverUrl!, `bench_gateway_${name.replace(/\W/g, "_")}`);
  scratchDatabases.push(db);
  return db.url;
}

/** A monthly budget no run comes near: the calls reserve and settle, and are never refused. */
const BENCH_BUDGET_USD = "1000000";

async function ourServer(name: string, args: string[], env: Record<string, string>, postgres: boolean, budget = false): Promise<void> {
  const server = await startBenchServer({
    databaseUrl: postgres ? await scratchDatabase(name) : undefined,
    args,
    startTimeoutMs: 120_000,
    env: {
      OPENAI_API_KEY: EMULATOR_KEY,
      OPENAI_BASE_URL: `${emulatorUrl}/v1`,
      NODE_ENV: "production",
      ...(values["cpu-prof"] ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${path.resolve(values["cpu-prof"])}` } : {}),
      ...env,
    },
    key: { name: "bench", secret: KEY, ...(budget ? { monthlyBudgetUsd: BENCH_BUDGET_USD } : {}) },
  });
  ours.set(name, server);
  targets.push({
    name,
    url: server.url,
    path: "/v1/chat/completions",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    pid: server.child.pid,
  });
}

if (paths.includes("next")) {
  if (existsSync(".next/BUILD_ID")) await ourServer("next", [], { SERVE_API_THROUGH_NEXT: "1" }, !!serverUrl);
  else console.log("skipping the next path: run `npm run build` first");
}
if (paths.includes("lean")) await ourServer("lean", ["--api-only"], {}, !!serverUrl);
if (paths.includes("lean-sdk")) await ourServer("lean-sdk", ["--api-only"], { OPENAI_PASSTHROUGH: "off" }, !!serverUrl);
if (paths.includes("lean-pglite")) await ourServer("lean-pglite", ["--api-only"], {}, false);
if (paths.includes("lean-budget")) await ourServer("lean-budget", ["--api-only"], {}, !!serverUrl, true);
const redisUrl = values["redis-url"];
const redisPrefix = `bench-gateway-${process.pid}:`;
for (const [name, budget] of [
  ["lean-redis", false],
  ["lean-budget-redis", true],
] as const) {
  if (!paths.includes(name)) continue;
  if (!redisUrl) {
    console.log(`skipping the ${name} path: no --redis-url (or TEST_REDIS_URL)`);
    continue;
  }
  await ourServer(name, ["--api-only"], { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: `${redisPrefix}${name}:` }, !!serverUrl, budget);
}
console.log(
  `our paths store usage in ${serverUrl ? "PostgreSQL (a scratch database per path)" : "the embedded PGlite"}${paths.includes("lean-pglite") ? "; lean-pglite in PGlite" : ""}`,
);

const pools = new Map(targets.map((t) => [t.name, new Pool(t.url, { connections: 64 })]));
const errors = new Map<string, string>();
const sentTo = new Map<string, number>();
function caller(t: Target): () => Promise<boolean> {
  const pool = pools.get(t.name)!;
  return async () => {
    sentTo.set(t.name, (sentTo.get(t.name) ?? 0) + 1);
    const r = await pool.request({ path: t.path, method: "POST", headers: t.headers, body });
    const text = await r.body.text();
    if (r.statusCode !== 200 && !errors.has(t.name)) errors.set(t.name, `${r.statusCode} ${text.slice(0, 200)}`);
    return r.statusCode === 200;
  };
}

// Warm every path, then measure each concurrency for each path in turn (interleaved per level).
for (const t of targets) await load(400, 4, caller(t));
/** User + system CPU time of a process, in ms (Linux /proc; NaN elsewhere). */
function cpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks of 1/100 s
  } catch {
    return NaN;
  }
}

const results = new Map<string, LoadResult & { cpu: number }>();
for (const clients of clientCounts) {
  for (const t of targets) {
    const n = clients === 1 ? Math.max(500, Math.round(total / 3)) : total;
    const before = cpuMs(t.pid);
    const result = await load(n, clients, caller(t));
    results.set(`${t.name}@${clients}`, { ...result, cpu: (cpuMs(t.pid) - before) / result.requests });
  }
}

console.log(`\nbench/gateway — ${new Date().toISOString()} — ${total} requests per level (a third at 1 client)\n`);
console.log("path               clients     req/s   p50 ms   p99 ms   added p50   added p99   cpu ms/req   errors");
for (const clients of clientCounts) {
  const base = results.get(`emulator@${clients}`);
  for (const t of targets) {
    const r = results.get(`${t.name}@${clients}`)!;
    const addP50 = base ? r.p50 - base.p50 : NaN;
    const addP99 = base ? r.p99 - base.p99 : NaN;
    console.log(
      `${t.name.padEnd(17)} ${String(clients).padStart(8)} ${fmt(r.rps, 0).padStart(9)} ${fmt(r.p50).padStart(8)} ${fmt(r.p99).padStart(8)} ${fmt(addP50).padStart(11)} ${fmt(addP99).padStart(11)} ${fmt(r.cpu, 3).padStart(12)} ${String(r.errors).padStart(8)}`,
    );
  }
}
for (const [name, e] of errors) console.log(`first error on ${name}: ${e}`);

const r = (name: string, c: number) => results.get(`${name}@${c}`);
const added = (name: string, c: number) => (r(name, c)?.p50 ?? NaN) - (r("emulator", c)?.p50 ?? NaN);
console.log("\nratios (targets for the lean path):");
if (r("lean", 10) && r("portkey", 10))
  console.log(`  lean/portkey req/s at 10 clients: ${fmt(r("lean", 10)!.rps / r("portkey", 10)!.rps)}x (target ≥ 3x)`);
if (r("lean", 50) && r("portkey", 50))
  console.log(`  lean/portkey req/s at 50 clients: ${fmt(r("lean", 50)!.rps / r("portkey", 50)!.rps)}x`);
if (r("lean", 1) && r("portkey", 1))
  console.log(`  lean/portkey added p50 at 1 client: ${fmt(added("lean", 1) / added("portkey", 1))} (target ≤ 0.4)`);
if (r("lean", 1) && r("bare", 1))
  console.log(`  lean/bare added p50 at 1 client: ${fmt(added("lean", 1) / added("bare", 1))} (target ≤ 1.5)`);
if (r("lean", 10) && r("portkey", 10))
  console.log(
    `  lean/portkey CPU per request at 10 clients: ${fmt(r("lean", 10)!.cpu / r("portkey", 10)!.cpu)} (the gateway process's own CPU time; steadier than timings on a busy machine)`,
  );
if (r("lean", 10) && r("bare", 10))
  console.log(`  lean/bare CPU per request at 10 clients: ${fmt(r("lean", 10)!.cpu / r("bare", 10)!.cpu)} (target ≤ 1.5)`);
if (r("lean-sdk", 10) && r("lean", 10))
  console.log(
    `  lean-sdk/lean at 10 clients: req/s ${fmt(r("lean-sdk", 10)!.rps / r("lean", 10)!.rps)}x, CPU per request ${fmt(r("lean-sdk", 10)!.cpu / r("lean", 10)!.cpu)}x (what the passthrough saves)`,
  );
if (r("next", 10) && r("lean", 10)) console.log(`  next/lean req/s at 10 clients: ${fmt(r("next", 10)!.rps / r("lean", 10)!.rps)}x`);
// What a budget adds: the budget check and the reservation before the call and the settle after it.
for (const [withBudget, without] of [
  ["lean-budget", "lean"],
  ["lean-budget-redis", "lean-redis"],
] as const) {
  for (const c of clientCounts) {
    const a = r(withBudget, c);
    const b = r(without, c);
    if (!a || !b) continue;
    console.log(
      `  ${withBudget} vs ${without} at ${c} client${c === 1 ? "" : "s"}: +${fmt(a.cpu - b.cpu, 3)} ms CPU per request (${fmt(a.cpu / b.cpu)}x), p50 ${fmt(a.p50 - b.p50, 3)} ms more, req/s ${fmt(a.rps / b.rps)}x (target: check and reservation under 0.2 ms per call)`,
    );
  }
}

// Streamed: the time to the first byte of the answer's body, at 1 client.
const streamN = Math.max(200, Math.round(total / 10));
const ttfb = new Map<string, number[]>();
const streamErrors = new Map<string, number>();
for (const t of targets) {
  const pool = pools.get(t.name)!;
  const times: number[] = [];
  for (let i = 0; i < streamN + 20; i++) {
    sentTo.set(t.name, (sentTo.get(t.name) ?? 0) + 1);
    const started = performance.now();
    const res = await pool.request({ path: t.path, method: "POST", headers: t.headers, body: streamBody });
    let first = NaN;
    for await (const chunk of res.body) {
      if (Number.isNaN(first) && (chunk as Buffer).length) first = performance.now() - started;
    }
    if (res.statusCode !== 200) {
      streamErrors.set(t.name, (streamErrors.get(t.name) ?? 0) + 1);
      errors.set(`${t.name} (stream)`, String(res.statusCode));
    }
    if (i >= 20) times.push(first); // the first 20 warm the path
  }
  ttfb.set(
    t.name,
    times.sort((a, b) => a - b),
  );
}
console.log(`
streamed (1 client, ${streamN} requests): time to the first byte of the body`);
console.log("path               ttfb p50   ttfb p99   added p50   errors");
const ttfbBase = ttfb.get("emulator");
for (const t of targets) {
  const times = ttfb.get(t.name)!;
  console.log(
    `${t.name.padEnd(17)} ${fmt(percentile(times, 50)).padStart(9)} ${fmt(percentile(times, 99)).padStart(10)} ${fmt(ttfbBase ? percentile(times, 50) - percentile(ttfbBase, 50) : NaN).padStart(11)} ${String(streamErrors.get(t.name) ?? 0).padStart(8)}`,
  );
}
if (ttfb.has("lean") && ttfbBase)
  console.log(`  lean added time to first byte: ${fmt(percentile(ttfb.get("lean")!, 50) - percentile(ttfbBase, 50))} ms (target < 0.5 ms)`);

if (soakSeconds > 0 && ours.has("lean")) {
  const lean = targets.find((t) => t.name === "lean")!;
  const server = ours.get("lean")!;
  const rss = () => {
    try {
      return Number(readFileSync(`/proc/${server.child.pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)?.[1] ?? NaN) / 1024;
    } catch {
      return NaN;
    }
  };
  console.log(`\nsoak: ${soakSeconds} s at 50 clients on the lean path; resident size of the server process (MiB):`);
  const until = Date.now() + soakSeconds * 1000;
  let sent = 0;
  const samples: number[] = [];
  const times: number[] = [];
  const soakStarted = Date.now();
  while (Date.now() < until) {
    const res = await load(5000, 50, caller(lean));
    sent += res.requests;
    samples.push(rss());
    times.push((Date.now() - soakStarted) / 1000);
    console.log(
      `  t=${Math.round((soakSeconds * 1000 - (until - Date.now())) / 1000)}s rss=${fmt(samples.at(-1)!, 1)} req/s=${fmt(res.rps, 0)}`,
    );
  }
  // The resident size swings with V8's garbage collection; a leak shows as a trend. Compare the
  // median of the first third of the samples (after a warm-up of 30 s) with the last third's.
  const steady = samples.filter((_, i) => times[i]! >= 30);
  const third = Math.max(1, Math.floor(steady.length / 3));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const early = median(steady.slice(0, third));
  const late = median(steady.slice(-third));
  console.log(
    `  rss: median ${fmt(early, 1)} MiB in the first third after warm-up, ${fmt(late, 1)} MiB in the last third: ${fmt(((late - early) / early) * 100, 1)}% (target within 10%); min ${fmt(Math.min(...steady), 1)}, max ${fmt(Math.max(...steady), 1)}; ${sent} requests`,
  );
}

for (const p of pools.values()) await p.close();
for (const s of ours.values()) await s.stop();
// Every request our paths answered has its usage row (the servers flushed their writers on stop).
for (const [name, o] of ours) {
  const [row] = await o.withDatabase((db) => db.prisma.$queryRawUnsafe<{ n: bigint }[]>("SELECT count(*) AS n FROM usage_events"));
  await o.dispose();
  console.log(`usage rows on ${name}: ${row!.n} for ${sentTo.get(name) ?? 0} requests sent`);
}
for (const c of children) c.kill("SIGTERM");
for (const db of scratchDatabases) await db.drop();
if (redisUrl && (paths.includes("lean-redis") || paths.includes("lean-budget-redis"))) {
  const { Redis } = await import("ioredis");
  const redis = new Redis(redisUrl);
  const keys = await redis.keys(`${redisPrefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
}
process.exit(0);
