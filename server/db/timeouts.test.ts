// Every PostgreSQL query is bounded: statement_timeout on the server, a read deadline on the client
// for a server that does not answer at all, a deadline on getting a connection, and a circuit that
// fails queries at once (DatabaseUnavailable: 503) while a hung server has not answered a probe.
// Against real PostgreSQL (TEST_DATABASE_URL), hung through a fault proxy of the test's own.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createScratchPostgres, testDatabaseUrl } from "@/tests/support/db.ts";
import { startFaultProxy, targetOf, type FaultProxy } from "@/tests/support/fault-proxy.ts";
import type { ScratchPostgres } from "@/tests/support/scratch-postgres.ts";
import { DatabaseUnavailable, isDatabaseUnavailable, openDatabase, type DatabaseHandle } from "./index.ts";

process.env.LOG_LEVEL = "silent";

async function timed(p: Promise<unknown>): Promise<{ ms: number; error?: unknown }> {
  const started = performance.now();
  try {
    await p;
    return { ms: performance.now() - started };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

describe.runIf(testDatabaseUrl())("PostgreSQL deadlines", () => {
  let scratch: ScratchPostgres;
  let proxy: FaultProxy;
  let db: DatabaseHandle;

  beforeAll(async () => {
    scratch = await createScratchPostgres();
    proxy = await startFaultProxy(targetOf(scratch.url, 5432));
    db = await openDatabase({ databaseUrl: proxy.urlFor(scratch.url), dataDir: "", statementTimeoutMs: 400, connectTimeoutMs: 400 });
  });
  afterAll(async () => {
    await db?.close();
    await proxy?.close();
    await scratch?.drop();
  });

  it("runs every pooled connection under the statement timeout, and a statement past it is a 503, not a 500", async () => {
    const settings = await Promise.all(
      Array.from({ length: 4 }, () => db.rawQuery<{ s: string }>("SELECT current_setting('statement_timeout') AS s, pg_sleep(0.02)")),
    );
    expect(settings.map((r) => r[0]!.s)).toEqual(["400ms", "400ms", "400ms", "400ms"]);
    const slow = await timed(db.rawQuery("SELECT pg_sleep(2)"));
    expect(slow.ms).toBeLessThan(1_000);
    expect(isDatabaseUnavailable(slow.error)).toBe(true);
    const viaPrisma = await timed(db.prisma.$queryRawUnsafe("SELECT pg_sleep(2)"));
    expect(isDatabaseUnavailable(viaPrisma.error)).toBe(true);
    expect(db.usable()).toBe(true); // a live server that cancelled a statement is not an outage
  });

  it("lets a long-running statement (an index build) past the timeout, on its own connection", async () => {
    const rows = await db.longRunning(5_000, (query) =>
      query<{ s: string }>("SELECT current_setting('statement_timeout') AS s, pg_sleep(0.6)"),
    );
    expect(rows[0]!.s).toBe("5s");
    expect((await db.rawQuery<{ s: string }>("SELECT current_setting('statement_timeout') AS s"))[0]!.s).toBe("400ms");
  });

  it("hung: a query gives up at the read deadline, then queries fail at once until a probe gets an answer", async () => {
    await db.rawQuery("SELECT 1");
    await proxy.set("hung");
    const first = await timed(db.rawQuery("SELECT 1"));
    expect(first.error).toBeInstanceOf(DatabaseUnavailable);
    expect(first.ms).toBeLessThan(1_500);
    expect(db.usable()).toBe(false);
    const next = await timed(db.prisma.apiKey.findMany());
    expect(isDatabaseUnavailable(next.error)).toBe(true);
    expect(next.ms).toBeLessThan(250);

    await proxy.set("up");
    const started = performance.now();
    while (!db.usable()) {
      expect(performance.now() - started).toBeLessThan(5_000);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await db.prisma.apiKey.count()).toBe(0);
  });

  it("down: a refused connection is a DatabaseUnavailable at once; back up, queries work", async () => {
    await proxy.set("down");
    const refused = await timed(db.rawQuery("SELECT 1"));
    expect(refused.error).toBeInstanceOf(DatabaseUnavailable);
    expect(refused.ms).toBeLessThan(500);
    await proxy.set("up");
    expect(await db.rawQuery("SELECT 1 AS one")).toEqual([{ one: 1 }]);
  });
});
