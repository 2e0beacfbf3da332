// bench/usage: (a) how many usage events per second the batched writer stores in PostgreSQL, roll-ups
// included; (b) how long the 90-day usage statistics take at 10 thousand, 1 million and 10 million
// events, with the ratio to the 10-thousand time.
//
//   npm run bench:usage [-- --sizes 10000,1000000,10000000 --writer-events 100000 --runs 15 --keep]
//   (--skip-writer or --skip-stats runs one half; --database-url, default TEST_DATABASE_URL)
//
// Each size gets its own scratch database on that server (created here, dropped at the end unless
// --keep) and its own worker process (bench/usage-worker.ts) with the service's modules pointed at
// it. Events are generated in the database (INSERT ... SELECT generate_series) over the last 90
// days, 12 keys of 5 users (2 keys without one), 8 models of 2 providers, chat and embedding
// endpoints, 3 % errors, attribution (ten sets of up to three tags, a third none; 20 end users on two
// thirds; sessions on streams), which multiplies the full roll-ups' rows; the roll-ups are then built from them, a day at a time, by the same SQL the
// writer runs (usage-rollups.ts). The timings are interleaved: each round asks every size's worker
// for each query in turn (the order of the sizes rotating), so a slower spell of this shared machine
// weighs on all sizes alike and the ratios compare like with like. Targets: (a) ≥ 10,000 events/s;
// (b) ≤ 100 ms at 10 million events and within 2× of the 10-thousand time.
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import pg from "pg";
import { createScratchPostgres, type ScratchPostgres } from "../tests/support/scratch-postgres.ts";
import { fmt, percentile } from "./lib.ts";
import type { FromWorker, ToWorker } from "./usage-worker.ts";

const { values } = parseArgs({
  options: {
    "database-url": { type: "string" },
    sizes: { type: "string", default: "10000,1000000,10000000" },
    "writer-events": { type: "string", default: "100000" },
    runs: { type: "string", default: "15" },
    keep: { type: "boolean", default: false },
    "skip-writer": { type: "boolean", default: false },
    "skip-stats": { type: "boolean", default: false },
  },
});
const serverUrl = values["database-url"] ?? process.env.TEST_DATABASE_URL;
if (!serverUrl) {
  console.error(
    "Set TEST_DATABASE_URL or pass --database-url postgresql://user@host:5432/postgres (a server where scratch databases may be created)",
  );
  process.exit(2);
}
const sizes = [...new Set(values.sizes.split(",").map((s) => Number(s.trim())))].sort((a, b) => a - b);
if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error("--sizes: whole numbers, e.g. 10000,1000000");
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs: a whole number of at least 1");
const WARM_UP_ROUNDS = 2;

const admin = new pg.Client({ connectionString: serverUrl });
await admin.connect();
const version = (await admin.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
await admin.end();
console.log(`bench/usage on PostgreSQL ${version} (scratch databases ms_bench_usage_<size>_*), ${new Date().toISOString()}`);

const databases: ScratchPostgres[] = [];
const workers: ChildProcess[] = [];
const dataDir = mkdtempSync(path.join(tmpdir(), "bench-usage-"));
const workerFile = fileURLToPath(new URL("./usage-worker.ts", import.meta.url));

/** A worker on a new scratch database; its first message (after its set-up) is returned. */
async function startWorker(name: string, args: string[]): Promise<{ worker: Worker; first: FromWorker }> {
  const database = await createScratchPostgres(serverUrl!, `ms_bench_usage_${name}`);
  databases.push(database);
  const child = fork(workerFile, args, {
    execArgv: process.execArgv,
    // Generating and rolling up a million events per statement takes far longer than the service's
    // request-path bound on a statement (DATABASE_STATEMENT_TIMEOUT_MS, 2 s by default).
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      DATA_DIR: path.join(dataDir, name),
      LOG_LEVEL: "warn",
      DATABASE_STATEMENT_TIMEOUT_MS: "3600000",
    },
  });
  workers.push(child);
  const worker = new Worker(child, name);
  return { worker, first: await worker.next() };
}

/** One request at a time to a worker process; its exit before an answer is an error. */
class Worker {
  private waiting: { resolve: (m: FromWorker) => void; reject: (e: Error) => void } | undefined;
  constructor(
    private readonly child: ChildProcess,
    readonly name: string,
  ) {
    child.on("message", (m: FromWorker) => {
      const w = this.waiting;
      this.waiting = undefined;
      if (!w) return;
      if (m.type === "failed") w.reject(new Error(`worker ${name}: ${m.error}`));
      else w.resolve(m);
    });
    child.on("exit", (code) => {
      this.waiting?.reject(new Error(`worker ${name} exited (${code}) before answering`));
      this.waiting = undefined;
    });
  }
  next(): Promise<FromWorker> {
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }
  ask(m: ToWorker): Promise<FromWorker> {
    const answer = this.next();
    this.child.send(m, (err) => {
      if (err) this.waiting?.reject(new Error(`worker ${this.name}: ${err.message}`));
    });
    return answer;
  }
  async done(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    // A worker that has finished its work may already be disconnecting: then it exits anyway.
    if (this.child.connected) this.child.send({ cmd: "exit" } satisfies ToWorker, () => undefined);
    await exited;
  }
}

async function writerThroughput(): Promise<void> {
  const { worker, first } = await startWorker("writer", ["--role", "writer", "--events", values["writer-events"]]);
  if (first.type !== "written") throw new Error(`worker writer: unexpected ${first.type}`);
  console.log(`\n${first.line}`);
  await worker.done();
}

async function statistics(): Promise<void> {
  const ready: { size: number; worker: Worker; info: Extract<FromWorker, { type: "ready" }> }[] = [];
  // One size at a time (generating 10 million events uses the machine), then all of them kept
  // ready for the interleaved timings.
  for (const size of sizes) {
    const { worker, first } = await startWorker(String(size), ["--role", "stats", "--size", String(size), "--runs", String(runs)]);
    if (first.type !== "ready") throw new Error(`worker ${size}: unexpected ${first.type}`);
    console.log(first.line);
    ready.push({ size, worker, info: first });
  }
  const { variants, start, end } = ready[0]!.info;
  const times = ready.map(() => variants.map(() => [] as number[]));
  const counted = ready.map(() => variants.map(() => 0));
  for (let round = 0; round < WARM_UP_ROUNDS + runs; round++) {
    for (let v = 0; v < variants.length; v++) {
      for (let k = 0; k < ready.length; k++) {
        const s = (k + round + v) % ready.length; // rotate which size goes first
        const m = await ready[s]!.worker.ask({ cmd: "time", variant: v });
        if (m.type !== "timed") throw new Error(`worker ${ready[s]!.size}: unexpected ${m.type}`);
        if (round >= WARM_UP_ROUNDS) times[s]![v]!.push(m.ms);
        counted[s]![v] = m.requests;
      }
    }
  }
  const medians = times.map((perVariant) =>
    perVariant.map((ms) =>
      percentile(
        [...ms].sort((a, b) => a - b),
        50,
      ),
    ),
  );
  const p95s = times.map((perVariant) =>
    perVariant.map((ms) =>
      percentile(
        [...ms].sort((a, b) => a - b),
        95,
      ),
    ),
  );

  const base = 0;
  console.log(
    `\n(b) 90-day statistics (${start} to ${end}), median of ${runs} interleaved rounds after ${WARM_UP_ROUNDS} warm-ups, ms (ratio to ${sizes[base]!.toLocaleString("en-US")} events):`,
  );
  variants.forEach((name, v) => {
    const cells = ready.map(
      (r, s) =>
        `${r.size.toLocaleString("en-US").padStart(11)}: ${fmt(medians[s]![v]!, 1).padStart(6)} (${fmt(medians[s]![v]! / medians[base]![v]!, 2)}x)`,
    );
    console.log(`  ${name}\n    ${cells.join("   ")}`);
  });

  console.log(
    `\nThe requests list (GET /v1/llm/requests: 50 a page, by cursor over the (created_at, id) index), median ms of page 1 / page 51 (ratio to ${sizes[base]!.toLocaleString("en-US")} events):`,
  );
  const lists: Extract<FromWorker, { type: "recent" }>["lists"][] = [];
  for (const r of ready) {
    const m = await r.worker.ask({ cmd: "recent" });
    if (m.type !== "recent") throw new Error(`worker ${r.size}: unexpected ${m.type}`);
    lists.push(m.lists);
  }
  lists[0]!.forEach((list, i) => {
    const cells = ready.map((r, s) => {
      const l = lists[s]![i]!;
      const b = lists[base]![i]!;
      return `${r.size.toLocaleString("en-US").padStart(11)}: ${fmt(l.first, 1)} (${fmt(l.first / b.first, 2)}x) / ${fmt(l.deep, 1)} (${fmt(l.deep / b.deep, 2)}x)`;
    });
    console.log(`  ${list.name}\n    ${cells.join("   ")}`);
  });

  const last = ready.length - 1;
  const median = medians[last]![0]!;
  const ratio = median / medians[base]![0]!;
  console.log(
    `\nTargets for the default query at ${sizes[last]!.toLocaleString("en-US")} events: ${fmt(median, 1)} ms (p95 ${fmt(p95s[last]![0]!, 1)}) ≤ 100 ms: ${median <= 100 ? "met" : "NOT met"}; ` +
      `${fmt(ratio, 2)}x the ${sizes[base]!.toLocaleString("en-US")}-event time ≤ 2x: ${ratio <= 2 ? "met" : "NOT met"}.`,
  );
  const info = ready[last]!.info;
  console.log(
    `(Checked: the default query counted ${counted[last]![0]!.toLocaleString("en-US")} requests, as many as the ${info.eventsInRange.toLocaleString("en-US")} events stored in its range: ${counted[last]![0] === info.eventsInRange ? "yes" : "NO"}.)`,
  );
  for (const r of ready) await r.worker.done();
}

try {
  if (!values["skip-writer"]) await writerThroughput();
  if (!values["skip-stats"]) await statistics();
} finally {
  for (const w of workers) if (w.exitCode === null) w.kill();
  if (!values.keep) for (const d of databases) await d.drop();
  else console.log(`Kept the databases ${databases.map((d) => d.name).join(", ")}.`);
  rmSync(dataDir, { recursive: true, force: true });
}
