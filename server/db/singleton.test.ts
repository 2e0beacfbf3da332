// The process-wide database (getDb & co.): configured by env, one instance across module reloads
// (Next's route bundles and dev hot reloads), health check with a timeout and no leaked password.
import { existsSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { resetEnvForTests } from "@/server/kernel/env.ts";
import { makeTempDir, removeTempDir } from "@/tests/support/db.ts";
import * as db from "./index.ts";

// Creating a PGlite folder runs initdb: seconds when idle, much longer on a busy 2-core machine.
const OPEN_TIMEOUT = 120_000;

const saved = { DATABASE_URL: process.env.DATABASE_URL, DATA_DIR: process.env.DATA_DIR, LOG_LEVEL: process.env.LOG_LEVEL };

function setEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  resetEnvForTests();
}

beforeAll(() => setEnv({ LOG_LEVEL: "silent" }));
afterAll(() => setEnv(saved));

describe("checkDatabase against an unreachable PostgreSQL", () => {
  afterEach(async () => {
    await db.closeDb();
  });

  it("fails fast without the password in the error", async () => {
    setEnv({ DATABASE_URL: "postgresql://svc:Sup3r%2FS3cret@127.0.0.1:1/model_service" });
    expect(db.databaseKind()).toBe("postgres");
    const r = await db.checkDatabase(5_000);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/ECONNREFUSED/);
    expect(r.error).not.toMatch(/S3cret/);
    expect(r.latencyMs).toBeLessThan(5_000);
  });

  it("gives up after its timeout when the server does not answer", async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      setEnv({ DATABASE_URL: `postgresql://svc:hunter2hunter2@127.0.0.1:${port}/model_service` });
      const r = await db.checkDatabase(300);
      expect(r).toMatchObject({ ok: false, error: "no answer within 300 ms" });
      expect(r.latencyMs).toBeGreaterThanOrEqual(290);
      expect(r.latencyMs).toBeLessThan(2_000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it("sanitizes messages that quote the connection string", () => {
    const url = "postgresql://svc:p%40ss%2Fw0rd@db.internal:5432/app";
    const e = db.sanitizeDatabaseError(new Error(`could not use ${url}; password p@ss/w0rd rejected`), "p@ss/w0rd");
    expect(e.message).not.toMatch(/p@ss|p%40ss|w0rd/);
    expect(e.message).toContain("db.internal");
  });
});

describe("the process-wide embedded database", () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = makeTempDir("singleton-");
    setEnv({ DATABASE_URL: undefined, DATA_DIR: dataDir });
  });
  afterAll(async () => {
    await db.closeDb();
    removeTempDir(dataDir);
  });

  it(
    "opens once, migrated, shared across module instances",
    async () => {
      expect(db.databaseKind()).toBe("pglite");
      expect(db.databaseInfo()).toMatchObject({ kind: "pglite", open: false });
      const [a, b] = await Promise.all([db.getDb(), db.getDb()]);
      expect(a).toBe(b);
      expect(await a.user.count()).toBe(0);
      const info = db.databaseInfo();
      expect(info).toMatchObject({ kind: "pglite", open: true, viaOwnerSocket: false });
      expect(JSON.parse(readFileSync(path.join(dataDir, "owner.lock"), "utf8"))).toMatchObject({
        pid: process.pid,
        port: info.servingPort,
      });

      // A fresh copy of the module (another route bundle, or a hot reload) finds the same client.
      vi.resetModules();
      const reloaded = (await import("./index.ts")) as typeof db;
      expect(reloaded).not.toBe(db);
      expect(await reloaded.getDb()).toBe(a);

      expect(await db.runMigrations()).toEqual([]);
      expect(await db.checkDatabase()).toMatchObject({ ok: true });
      const handle = await db.getDatabase();
      expect(await handle.rawQuery<{ n: number }>("select $1::int + 1 as n", [1])).toEqual([{ n: 2 }]);
    },
    OPEN_TIMEOUT,
  );

  it(
    "closes: releases DATA_DIR, and opens again on next use",
    async () => {
      const first = await db.getDb();
      await db.closeDb();
      expect(existsSync(path.join(dataDir, "owner.lock"))).toBe(false);
      expect(db.databaseInfo().open).toBe(false);
      const again = await db.getDb();
      expect(again).not.toBe(first);
      expect(await again.user.count()).toBe(0);
    },
    OPEN_TIMEOUT,
  );
});
