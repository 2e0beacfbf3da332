// The fuzz suite (issue #15): every REST route of the lean route table and every tRPC procedure of
// the root router, called as an admin key, a plain key, a platform JWT and nobody, with the cases
// the issue reported and generated ones (tests/fuzz/cases.ts), on PGlite and on PostgreSQL
// (TEST_DATABASE_URL). A caller's mistake must get a 4xx: any 5xx, a connection failure or a
// missed deadline fails the run, which lists each such case with what was sent.
//
//   FUZZ_SEED=<n>    replay a run (the seed is printed, and in each failure)
//   FUZZ_CASES=<n>   generated cases per target and authenticated caller (default 24)
//   FUZZ_VERBOSE=1   print each failing case as it happens
//   FUZZ_DEADLINE_MS=<ms>  how long one request may take (default 20000)
import { describe, expect, it } from "vitest";
import { testDatabases } from "@/tests/support/db.ts";
import { reportedCases, targetCases, type FuzzCase } from "./cases.ts";
import { platformJwt, useFuzzServer, type Caller, type FuzzServer, type Sent } from "./harness.ts";
import { fuzzSeed, seededRandom } from "./random.ts";
import { describeTarget, restTargets, trpcTargets, type Target } from "./targets.ts";

const CASES = Number(process.env.FUZZ_CASES ?? 24);
/** How many requests are in flight at once. */
const CONCURRENCY = 4;
/** A request that takes longer than this hangs. */
const DEADLINE_MS = Number(process.env.FUZZ_DEADLINE_MS ?? 20_000);
/** FUZZ_VERBOSE=1 prints each failing case as it happens. */
const VERBOSE = process.env.FUZZ_VERBOSE === "1";

type Failure = { where: string; label: string; method: string; path: string; status: number; body: string };

/** Set when the server stopped answering: the rest of the run is skipped (each case would wait out its deadline). */
let stalled: string | undefined;

async function runAll(
  server: FuzzServer,
  cases: { where: string; c: FuzzCase }[],
  failures: Failure[],
  statuses: Map<number, number>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < cases.length && !stalled) {
      const { where, c } = cases[next++]!;
      const res: Sent = await server.send(c.request, DEADLINE_MS);
      if (res.status === 0 && !stalled && (await server.send({ method: "GET", path: "/ping" }, 5_000)).status !== 200) {
        const exit = server.exitCode();
        stalled = `the server ${exit === undefined ? "stopped answering (even /ping)" : `exited with ${exit}`} after ${where}: ${c.label}`;
      }
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 0 || (res.status >= 500 && !ownDeadline(c, res))) {
        // A 500 quotes its request id: the server's log line for it says what went wrong.
        const id = /request id ([\w.:-]+)/.exec(res.body)?.[1];
        const logged = id
          ? server
              .logLinesWith(id)
              .map((l) => l.slice(0, 400))
              .join("\n      ")
          : "";
        const failure = {
          where,
          label: c.label,
          method: c.request.method,
          path: c.request.path.slice(0, 200),
          status: res.status,
          body: `${res.body.slice(0, 300)}${logged ? `\n      log: ${logged}` : ""}`,
        };
        failures.push(failure);
        if (VERBOSE) console.log(`${failure.status} (${Math.round(res.ms)} ms) ${failure.where}: ${failure.label}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

/** A 504 is the right answer when the caller itself asked for a deadline too short to meet. */
function ownDeadline(c: FuzzCase, res: Sent): boolean {
  if (res.status !== 504 || typeof c.request.body !== "string") return false;
  try {
    const body = JSON.parse(c.request.body) as { timeout_ms?: unknown };
    return typeof body.timeout_ms === "number" && body.timeout_ms < 1_000;
  } catch {
    return false;
  }
}

function casesFor(targets: Target[], callers: Caller[], seed: number): { where: string; c: FuzzCase }[] {
  const r = seededRandom(seed);
  const out: { where: string; c: FuzzCase }[] = [];
  for (const t of targets) {
    for (const caller of callers) {
      // Without a credential every non-public call stops at 401: a few cases show that it does.
      const n = caller.name === "nobody" ? 3 : caller.name === "jwt" ? Math.ceil(CASES / 3) : CASES;
      for (const c of targetCases(t, caller, r, n)) out.push({ where: `${describeTarget(t)} as ${caller.name}`, c });
    }
  }
  return out;
}

describe.each(testDatabases())("fuzzing every REST route and tRPC procedure on $kind", ({ kind }) => {
  const server = useFuzzServer(kind);
  const seed = fuzzSeed();

  it("finds the routes and procedures to fuzz", () => {
    expect(restTargets().length).toBeGreaterThan(20);
    expect(trpcTargets().length).toBeGreaterThan(30);
    expect(trpcTargets().map((t) => t.path)).toContain("usage.recent");
  });

  it("answers every case with a status below 500, within the deadline", async () => {
    const failures: Failure[] = [];
    const statuses = new Map<number, number>();
    const started = performance.now();
    stalled = undefined;

    // The cases the issue reported, for every caller.
    const reported = [];
    for (const caller of server.callers)
      for (const c of await reportedCases(caller, platformJwt)) reported.push({ where: `reported, as ${caller.name}`, c });
    await runAll(server, reported, failures, statuses);

    // Generated cases, target by target; destructive ones (DELETE of a fixture) may drop the
    // callers' collections, so the fixtures are made again before each target.
    const targets: Target[] = [...restTargets(), ...trpcTargets()];
    const all = casesFor(targets, server.callers, seed);
    const byTarget = new Map<string, { where: string; c: FuzzCase }[]>();
    for (const x of all) {
      const key = x.where.replace(/ as \w+$/, "");
      byTarget.set(key, [...(byTarget.get(key) ?? []), x]);
    }
    for (const group of byTarget.values()) {
      if (stalled) break;
      await server.ensureFixtures().catch((e: Error) => (stalled = `the fixtures could not be made again: ${e.message}`));
      await runAll(server, group, failures, statuses);
    }

    const sent = [...statuses.values()].reduce((a, b) => a + b, 0);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const histogram = [...statuses]
      .sort(([a], [b]) => a - b)
      .map(([s, n]) => `${s}: ${n}`)
      .join(", ");
    console.log(
      `fuzz on ${kind} (seed ${seed}, vectors in ${server.vectorBackend}): ${sent} requests (${reported.length} reported cases, ${all.length} generated) ` +
        `to ${targets.length} targets in ${seconds} s; statuses ${histogram}`,
    );
    expect(failures.map((f) => `[seed ${seed}] ${f.where}: ${f.label}\n    ${f.method} ${f.path}\n    -> ${f.status} ${f.body}`)).toEqual(
      [],
    );

    expect(stalled).toBeUndefined();
    expect(sent).toBe(reported.length + all.length);

    // OPTIONS with a valid body answered without running the handler: no collection was made.
    for (const caller of server.callers.filter((c) => c.name !== "nobody")) {
      const r = await server.send({ method: "GET", path: `/v1/vector/collections/opt-${caller.name}`, headers: caller.headers });
      expect(r.status, `OPTIONS made the collection opt-${caller.name}`).toBe(404);
    }
  }, 600_000);
});
