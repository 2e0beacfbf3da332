// One process owns DATA_DIR: the first opener locks it and serves it over pglite-socket; a second
// opener (here in the same process, and in a child process) goes through that socket and never
// opens the folder; a stale lock is taken over; transactions over the socket stay isolated from
// the owner's own queries.
import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { openDatabase, type DatabaseHandle } from "./index.ts";
import { makeTempDir, removeTempDir } from "@/tests/support/db.ts";

const execFileAsync = promisify(execFile);
// Creating a PGlite folder runs initdb: seconds when idle, much longer on a busy 2-core machine.
const OPEN_TIMEOUT = 120_000;

function readLock(dataDir: string): { pid: number; port: number | null; startedAt: string } {
  return JSON.parse(readFileSync(path.join(dataDir, "owner.lock"), "utf8")) as never;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(r.stdout);
}

describe("the DATA_DIR owner", () => {
  let dataDir: string;
  let owner: DatabaseHandle;

  beforeAll(async () => {
    dataDir = makeTempDir("owner-");
    owner = await openDatabase({ dataDir });
  }, OPEN_TIMEOUT);
  afterAll(async () => {
    await owner?.close();
    removeTempDir(dataDir);
  });

  it("locks the folder and records where it serves the database", () => {
    expect(owner.kind).toBe("pglite");
    expect(owner.viaOwnerSocket).toBe(false);
    expect(owner.appliedMigrations.length).toBeGreaterThan(0);
    const lock = readLock(dataDir);
    expect(lock.pid).toBe(process.pid);
    expect(lock.port).toBe(owner.servingPort);
    expect(typeof lock.port).toBe("number");
    expect(Number.isNaN(Date.parse(lock.startedAt))).toBe(false);
    expect(existsSync(path.join(dataDir, "pglite", "PG_VERSION"))).toBe(true);
  });

  it("serves a second opener through its socket, which sees its writes and never opens the folder", async () => {
    const create = vi.spyOn(PGlite, "create");
    const second = await openDatabase({ dataDir });
    try {
      expect(create).not.toHaveBeenCalled();
      expect(second.kind).toBe("pglite");
      expect(second.viaOwnerSocket).toBe(true);
      expect(second.appliedMigrations).toEqual([]);

      await owner.prisma.user.create({ data: { email: "owner@example.com" } });
      expect(await second.prisma.user.findUnique({ where: { email: "owner@example.com" } })).not.toBeNull();
      await second.prisma.user.create({ data: { email: "second@example.com", role: "admin" } });
      expect((await owner.prisma.user.findUnique({ where: { email: "second@example.com" } }))?.role).toBe("admin");

      // Raw bulk SQL works through the socket too.
      const n = await second.prisma.$executeRawUnsafe(
        `INSERT INTO models (id, name, provider, type, context_window, input_price_per_mtok, updated_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::numeric[], $7::timestamptz[])`,
        ["m1", "m2"],
        ["M1", "M2"],
        ["p", "p"],
        ["chat", "chat"],
        [1000, 2000],
        ["0.5", "1.25"],
        [new Date(), new Date()],
      );
      expect(n).toBe(2);
      expect(await owner.prisma.model.count()).toBe(2);
      expect(await second.migrate()).toEqual([]);
    } finally {
      await second.close();
      create.mockRestore();
    }
    // The client closing does not disturb the owner.
    expect(readLock(dataDir).pid).toBe(process.pid);
    expect(await owner.prisma.user.count()).toBe(2);
  });

  it("keeps a socket client's transaction apart from the owner's own queries", async () => {
    const client = new pg.Client({ host: "127.0.0.1", port: owner.servingPort, user: "postgres", database: "postgres" });
    await client.connect();
    try {
      await client.query("BEGIN");
      await client.query(`INSERT INTO users (id, email, updated_at) VALUES ('tx-user', 'tx@example.com', now())`);
      // The owner's write must wait for the client's transaction rather than join it.
      const ownerWrite = owner.prisma.user.create({ data: { id: "owner-user", email: "owner-during-tx@example.com" } });
      await new Promise((r) => setTimeout(r, 200));
      await client.query("ROLLBACK");
      await ownerWrite;
      const emails = (await owner.prisma.user.findMany({ select: { email: true } })).map((u) => u.email);
      expect(emails).toContain("owner-during-tx@example.com");
      expect(emails).not.toContain("tx@example.com");

      // And a socket query does not slip into the owner's transaction.
      let inside!: () => void;
      const insideTx = new Promise<void>((r) => (inside = r));
      const ownerTx = owner.prisma
        .$transaction(async (tx) => {
          await tx.user.create({ data: { id: "rolled-back", email: "rolled-back@example.com" } });
          inside();
          await new Promise((r) => setTimeout(r, 200));
          throw new Error("roll back");
        })
        .catch((e: Error) => e.message);
      await insideTx;
      await client.query(`INSERT INTO users (id, email, updated_at) VALUES ('socket-user', 'socket@example.com', now())`);
      expect(await ownerTx).toBe("roll back");
      const after = (await owner.prisma.user.findMany({ select: { id: true } })).map((u) => u.id);
      expect(after).toContain("socket-user");
      expect(after).not.toContain("rolled-back");
    } finally {
      await client.end();
    }
  });

  it("stays correct under concurrent socket clients, owner queries and transactions", async () => {
    const second = await openDatabase({ dataDir });
    const pool = new pg.Pool({ host: "127.0.0.1", port: owner.servingPort, user: "postgres", database: "postgres", max: 6 });
    const problems: string[] = [];
    const insert = `INSERT INTO vector_collections (id, name, owner_scope, physical_name, vector_size, distance, backend) VALUES ($1, $1, 'key:owner-test', $1, $2, 'Cosine', 'pgvector')`;
    try {
      await Promise.all(
        Array.from({ length: 300 }, async (_, i) => {
          try {
            switch (i % 6) {
              case 0: {
                const r = await pool.query<{ x: number }>("SELECT $1::int AS x", [i]);
                if (r.rows[0]?.x !== i) problems.push(`socket select ${i}`);
                break;
              }
              case 1: // an error mid extended-protocol exchange must not disturb anyone else
                await pool.query("SELECT * FROM no_such_table WHERE a = $1", [i]).then(
                  () => problems.push(`no error ${i}`),
                  (e: Error) => void (/does not exist/.test(e.message) || problems.push(e.message)),
                );
                break;
              case 2: {
                const r = await owner.rawQuery<{ x: number }>("SELECT $1::int AS x", [i]);
                if (r[0]?.x !== i) problems.push(`owner select ${i}`);
                break;
              }
              case 3:
                await second.prisma.$transaction(async (tx) => {
                  await tx.$executeRawUnsafe(insert, `s${i}`, i);
                });
                break;
              case 4:
                await owner.prisma.$transaction(async (tx) => {
                  await tx.$executeRawUnsafe(insert, `o${i}`, i);
                });
                break;
              case 5: {
                const c = await pool.connect();
                try {
                  await c.query("BEGIN");
                  await c.query(insert, [`r${i}`, i]);
                  await c.query("ROLLBACK");
                } finally {
                  c.release();
                }
                break;
              }
            }
          } catch (e) {
            problems.push(`${i}: ${(e as Error).message}`);
          }
        }),
      );
      expect(problems).toEqual([]);
      const names = (await owner.rawQuery<{ name: string }>("SELECT name FROM vector_collections")).map((r) => r.name);
      expect(names.filter((n) => n.startsWith("s")).length).toBe(50);
      expect(names.filter((n) => n.startsWith("o")).length).toBe(50);
      expect(names.filter((n) => n.startsWith("r"))).toEqual([]);
    } finally {
      await pool.end();
      await second.close();
    }
  });

  it(
    "serves another process (the CLI while the server runs)",
    async () => {
      const script = `
      import { openDatabase } from "./server/db/index.ts";
      const db = await openDatabase({ dataDir: ${JSON.stringify(dataDir)} });
      const users = await db.prisma.user.count();
      process.stdout.write(JSON.stringify({ users, viaOwnerSocket: db.viaOwnerSocket, kind: db.kind }));
      await db.close();
    `;
      // Asynchronously: this process must keep serving while the child runs.
      const r = await execFileAsync(
        process.execPath,
        ["--import", "tsx", "--import", "./scripts/server-only-hook.mjs", "--input-type=module", "-e", script],
        { encoding: "utf8", timeout: 60_000 },
      );
      expect(r.stderr).not.toMatch(/Error/);
      expect(JSON.parse(r.stdout)).toEqual({ users: 4, viaOwnerSocket: true, kind: "pglite" });
    },
    OPEN_TIMEOUT,
  );

  it("waits for an owner that is still opening, then reports it clearly", async () => {
    const other = makeTempDir("busy-");
    try {
      // A live process (our parent) that has not recorded a port yet.
      writeFileSync(path.join(other, "owner.lock"), JSON.stringify({ pid: process.ppid, port: null, startedAt: new Date().toISOString() }));
      const started = Date.now();
      await expect(openDatabase({ dataDir: other, ownerWaitMs: 300 })).rejects.toThrow(
        new RegExp(`owned by process ${process.ppid} .*has not started serving`),
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      expect(existsSync(path.join(other, "pglite"))).toBe(false);
    } finally {
      removeTempDir(other);
    }
  });

  it(
    "releases the lock on close, and a stale lock (dead pid) is taken over",
    async () => {
      const port = owner.servingPort!;
      await owner.close();
      expect(existsSync(path.join(dataDir, "owner.lock"))).toBe(false);
      const refused = new pg.Client({ host: "127.0.0.1", port, user: "postgres", database: "postgres" });
      await expect(refused.connect()).rejects.toThrow(/ECONNREFUSED/);

      const pid = deadPid();
      writeFileSync(path.join(dataDir, "owner.lock"), JSON.stringify({ pid, port, startedAt: "2020-01-01T00:00:00.000Z" }));
      owner = await openDatabase({ dataDir });
      expect(owner.viaOwnerSocket).toBe(false);
      const lock = readLock(dataDir);
      expect(lock.pid).toBe(process.pid);
      expect(lock.port).toBe(owner.servingPort);
      // The data written before survived the close and reopen.
      expect(await owner.prisma.user.count()).toBe(4);
    },
    OPEN_TIMEOUT,
  );
});
