// The budget ledger's stores, one contract for all: the database's (PGlite, and PostgreSQL with
// TEST_DATABASE_URL) and Redis's (with TEST_REDIS_URL, under a random key prefix). All or none,
// never past a limit under concurrency (also from two connections at once), exact beyond a
// double's 53 bits, seeds for unknown and forgotten accounts, leases that lapse, settles that
// may be repeated, and a late settle that still counts.
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, Socket, type Server } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, testDatabases, type TestDatabase } from "@/tests/support/db.ts";
import { createRedisLedgerStore } from "./budget-ledger-redis.ts";
import { createSqlLedgerStore } from "./budget-ledger-sql.ts";
import type { LedgerStore, StoreAccount } from "./budget-ledger.ts";

const redisUrl = process.env.TEST_REDIS_URL?.trim();
const IDLE = 60_000;
const LEASE = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type StoreCase = { name: string; open: () => Promise<{ stores: [LedgerStore, LedgerStore]; close: () => Promise<void> }> };

const cases: StoreCase[] = [
  ...testDatabases().map(({ kind }) => ({
    name: `the database (${kind})`,
    open: async () => {
      const db: TestDatabase = await createTestDatabase(kind);
      // On PostgreSQL the second store has a pool of its own: two instances on one database.
      const other =
        kind === "postgres" ? await import("pg").then(({ default: pg }) => new pg.Pool({ connectionString: db.url, max: 4 })) : undefined;
      // Dropping the database ends the connections that are still closing: not a failure.
      other?.on("error", () => {});
      const raw = <T>(sql: string, params?: unknown[]) => db.rawQuery<T>(sql, params);
      const otherRaw = other ? async <T>(sql: string, params?: unknown[]) => (await other.query(sql, params)).rows as T[] : raw;
      return {
        stores: [createSqlLedgerStore(async () => raw), createSqlLedgerStore(async () => otherRaw)] as [LedgerStore, LedgerStore],
        close: async () => {
          await other?.end();
          await db.destroy();
        },
      };
    },
  })),
  ...(redisUrl
    ? [
        {
          name: "Redis",
          open: async () => {
            const prefix = `mstest-${randomBytes(4).toString("hex")}:budget:`;
            const a = new Redis(redisUrl);
            const b = new Redis(redisUrl);
            return {
              stores: [createRedisLedgerStore(a, prefix), createRedisLedgerStore(b, prefix)] as [LedgerStore, LedgerStore],
              close: async () => {
                const keys = await a.keys(`${prefix}*`);
                if (keys.length) await a.del(...keys);
                await Promise.all([a.quit(), b.quit()]);
              },
            };
          },
        },
      ]
    : []),
];

describe.each(cases)("the budget ledger in $name", ({ open }) => {
  let store: LedgerStore;
  let twin: LedgerStore;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const opened = await open();
    [store, twin] = opened.stores;
    close = opened.close;
  }, 120_000);
  afterAll(() => close?.());

  const account = (limit: bigint, seed?: bigint): StoreAccount => ({
    key: `acct-${randomUUID()}`,
    limit,
    ...(seed === undefined ? {} : { seed }),
  });
  /** Starts accounts at 0 spent (the first reserve of an unknown account asks for its seed). */
  async function started(...accounts: StoreAccount[]): Promise<StoreAccount[]> {
    const sorted = accounts.sort((a, b) => (a.key < b.key ? -1 : 1));
    const first = await store.reserve(randomUUID(), sorted, 1n, LEASE, IDLE);
    expect(first).toEqual({ status: "seed", indexes: sorted.map((_, i) => i) });
    const seeded = sorted.map((a) => ({ ...a, seed: a.seed ?? 0n }));
    const id = randomUUID();
    expect(await store.reserve(id, seeded, 1n, LEASE, IDLE)).toEqual({ status: "ok" });
    await store.settle(
      id,
      seeded.map((a) => a.key),
      0n,
      IDLE,
    );
    return sorted.map(({ seed: _, ...a }) => a);
  }

  it("asks for the seed of an account it does not know, and starts the account there", async () => {
    const a = account(1_000n);
    expect(await store.reserve(randomUUID(), [a], 10n, LEASE, IDLE)).toEqual({ status: "seed", indexes: [0] });
    expect(await store.balance(a.key)).toBeNull();
    const id = randomUUID();
    expect(await store.reserve(id, [{ ...a, seed: 700n }], 10n, LEASE, IDLE)).toEqual({ status: "ok" });
    expect(await store.balance(a.key)).toEqual({ spent: 700n, held: 10n });
    // Known now: a later seed is ignored.
    expect(await store.reserve(randomUUID(), [{ ...a, seed: 5n }], 10n, LEASE, IDLE)).toEqual({ status: "ok" });
    expect(await store.balance(a.key)).toEqual({ spent: 700n, held: 20n });
  });

  it("holds on every account or on none, and says which refused with what it had", async () => {
    const [x, y] = await started(account(10n), account(5n));
    const big = x!.limit === 10n ? x! : y!;
    const small = big === x ? y! : x!;
    const accounts = [x!, y!];
    expect(await store.reserve(randomUUID(), accounts, 4n, LEASE, IDLE)).toEqual({ status: "ok" });
    const refused = await store.reserve(randomUUID(), accounts, 4n, LEASE, IDLE);
    expect(refused).toEqual({ status: "refused", index: accounts.indexOf(small), spent: 0n, held: 4n });
    // Nothing of the refused hold stayed on the account that had room.
    expect(await store.balance(big.key)).toEqual({ spent: 0n, held: 4n });
    expect(await store.reserve(randomUUID(), [big], 6n, LEASE, IDLE)).toEqual({ status: "ok" });
    expect(await store.reserve(randomUUID(), [big], 1n, LEASE, IDLE)).toMatchObject({ status: "refused", spent: 0n, held: 10n });
  });

  it("settles with the real cost, once, however often the settle comes", async () => {
    const [a] = await started(account(100n));
    const id = randomUUID();
    expect(await store.reserve(id, [a!], 60n, LEASE, IDLE)).toEqual({ status: "ok" });
    expect(await store.balance(a!.key)).toEqual({ spent: 0n, held: 60n });
    await store.settle(id, [a!.key], 23n, IDLE);
    await store.settle(id, [a!.key], 23n, IDLE);
    await twin.settle(id, [a!.key], 23n, IDLE);
    expect(await store.balance(a!.key)).toEqual({ spent: 23n, held: 0n });
    // A release (0) frees the whole hold; a cost above the hold counts in full.
    const r = randomUUID();
    await store.reserve(r, [a!], 70n, LEASE, IDLE);
    await store.settle(r, [a!.key], 0n, IDLE);
    const over = randomUUID();
    await store.reserve(over, [a!], 10n, LEASE, IDLE);
    await store.settle(over, [a!.key], 15n, IDLE);
    expect(await store.balance(a!.key)).toEqual({ spent: 38n, held: 0n });
  });

  it("never lets 200 concurrent reserves from two clients past the limit", async () => {
    const [a] = await started(account(50n));
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 ? twin : store).reserve(randomUUID(), [a!], 1n, LEASE, IDLE)),
    );
    expect(results.filter((r) => r.status === "ok")).toHaveLength(50);
    expect(results.filter((r) => r.status === "refused")).toHaveLength(150);
    expect(await store.balance(a!.key)).toEqual({ spent: 0n, held: 50n });
  }, 60_000);

  it("is exact beyond 2^53 picodollars (about $9,007)", async () => {
    const limit = 10n ** 16n + 1n; // $10,000.000000000001: not a double
    const [a] = await started(account(limit));
    expect(await store.reserve(randomUUID(), [a!], 10n ** 16n, LEASE, IDLE)).toEqual({ status: "ok" });
    expect(await store.reserve(randomUUID(), [a!], 1n, LEASE, IDLE)).toEqual({ status: "ok" });
    expect(await store.reserve(randomUUID(), [a!], 1n, LEASE, IDLE)).toEqual({ status: "refused", index: 0, spent: 0n, held: limit });
  });

  it("stops counting a hold whose lease ended, and still adds a late settle's cost", async () => {
    const [a] = await started(account(100n));
    const lapsing = randomUUID();
    expect(await store.reserve(lapsing, [a!], 90n, 200, IDLE)).toEqual({ status: "ok" });
    expect(await store.reserve(randomUUID(), [a!], 20n, LEASE, IDLE)).toMatchObject({ status: "refused" });
    await sleep(400);
    expect(await store.reserve(randomUUID(), [a!], 20n, LEASE, IDLE)).toEqual({ status: "ok" });
    expect(await store.balance(a!.key)).toEqual({ spent: 0n, held: 20n });
    await store.settle(lapsing, [a!.key], 30n, IDLE);
    await store.settle(lapsing, [a!.key], 30n, IDLE);
    expect(await store.balance(a!.key)).toEqual({ spent: 30n, held: 20n });
  });

  it("forgets an account idle past the idle time and asks for its seed again; a live hold keeps it", async () => {
    const a = account(1_000n);
    const shortIdle = 300;
    const first = randomUUID();
    expect(await store.reserve(first, [{ ...a, seed: 100n }], 5n, LEASE, shortIdle)).toEqual({ status: "ok" });
    await sleep(500);
    // Idle, but the hold is live: still known.
    expect(await store.reserve(randomUUID(), [a], 5n, 100, shortIdle)).toEqual({ status: "ok" });
    await store.settle(first, [a.key], 5n, shortIdle);
    await sleep(600);
    expect(await store.reserve(randomUUID(), [a], 5n, LEASE, shortIdle)).toEqual({ status: "seed", indexes: [0] });
    // Started again from the usage events: the seed, not the old spend.
    expect(await store.reserve(randomUUID(), [{ ...a, seed: 400n }], 5n, LEASE, shortIdle)).toEqual({ status: "ok" });
    expect(await store.balance(a.key)).toEqual({ spent: 400n, held: 5n });
  });
});

// A store that does not answer: every operation must give up rather than hang a request.
describe.runIf(redisUrl)("the budget ledger when Redis hangs", () => {
  let proxy: Server;
  let port = 0;
  let hung = false;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    const target = new URL(redisUrl!);
    proxy = createServer((client) => {
      sockets.add(client);
      const upstream = new Socket();
      upstream.connect(Number(target.port || 6379), target.hostname);
      client.on("data", (d) => void (hung || upstream.write(d)));
      upstream.on("data", (d) => void (hung || client.write(d)));
      const end = () => (client.destroy(), upstream.destroy(), sockets.delete(client));
      client.on("error", end).on("close", end);
      upstream.on("error", end).on("close", end);
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", () => r()));
    port = (proxy.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => proxy.close(r));
  });

  it("lets a reserve through the ledger fail within the ledger's deadline (503), not hang", async () => {
    const { hold, setLedgerStoreForTests, LEDGER_TIMEOUT_MS } = await import("./budget-ledger.ts");
    const client = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1 });
    client.on("error", () => {});
    try {
      setLedgerStoreForTests(createRedisLedgerStore(client, `mstest-${randomBytes(4).toString("hex")}:budget:`));
      const account = { key: `acct-${randomUUID()}`, limit: 100n, seed: async () => 0n };
      const ok = await hold([account], 10n, LEASE);
      expect("settle" in ok).toBe(true);
      hung = true;
      const started = performance.now();
      const err = await hold([account], 10n, LEASE).catch((e: unknown) => e);
      const took = performance.now() - started;
      expect(err).toMatchObject({ code: "unavailable", status: 503, details: { reason: "budget_ledger_unavailable" } });
      expect(took).toBeGreaterThanOrEqual(LEDGER_TIMEOUT_MS - 50);
      expect(took).toBeLessThan(LEDGER_TIMEOUT_MS + 2_000);
    } finally {
      setLedgerStoreForTests(undefined);
      hung = false;
      client.disconnect();
    }
  }, 30_000);
});

// Last in this file: it runs the process's shutdown hooks.
describe("the budget ledger on shutdown", () => {
  it("waits for the settles under way, and releases the holds whose calls never ended", async () => {
    const { hold, setLedgerStoreForTests } = await import("./budget-ledger.ts");
    const { runShutdownHooks } = await import("../../kernel/lifecycle.ts");
    const settled: { id: string; actual: bigint }[] = [];
    const slow: LedgerStore = {
      name: "database",
      reserve: async () => ({ status: "ok" }),
      // Slower than the call that ends the process: the hook must wait for it.
      settle: async (id, _keys, actual) => {
        await sleep(300);
        settled.push({ id, actual });
      },
      balance: async () => null,
    };
    setLedgerStoreForTests(slow);
    try {
      const account = { key: "acct-shutdown", limit: 100n, seed: async () => 0n };
      const done = await hold([account], 10n, LEASE);
      const open = await hold([account], 20n, LEASE);
      if (!("settle" in done) || !("settle" in open)) throw new Error("expected two holds");
      done.settle(7n);
      const started = performance.now();
      await runShutdownHooks();
      expect(performance.now() - started).toBeGreaterThanOrEqual(250);
      expect(settled.sort((a, b) => Number(a.actual - b.actual))).toEqual([
        { id: open.id, actual: 0n },
        { id: done.id, actual: 7n },
      ]);
    } finally {
      setLedgerStoreForTests(undefined);
    }
  }, 30_000);
});
