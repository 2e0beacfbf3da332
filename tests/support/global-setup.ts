// Runs once before the test files. Opening a new PGlite database runs initdb and the migrations,
// seconds each on this machine; every test file opens several. So this makes one migrated
// database, dumps it, and points PGLITE_TEMPLATE at the dump: new embedded databases in the
// workers (and in the servers they spawn) start from it. The dump is keyed by the migrations and
// the PGlite version, and reused across runs.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export default async function setup(): Promise<void> {
  const root = path.join(tmpdir(), "model-service-tests");
  mkdirSync(root, { recursive: true });

  const migrationsDir = path.resolve("prisma/migrations");
  const hash = createHash("sha256");
  const pgliteVersion = (
    JSON.parse(readFileSync(path.resolve("node_modules/@electric-sql/pglite/package.json"), "utf8")) as { version: string }
  ).version;
  hash.update(pgliteVersion);
  for (const name of readdirSync(migrationsDir).sort()) {
    const file = path.join(migrationsDir, name, "migration.sql");
    if (existsSync(file)) hash.update(name).update(readFileSync(file));
  }
  const template = path.join(root, `pglite-template-${hash.digest("hex").slice(0, 16)}.tar`);
  if (!existsSync(template)) {
    const { PGlite } = await import("@electric-sql/pglite");
    const { vector } = await import("@electric-sql/pglite/vector");
    const { applyMigrations, pgliteExecutor } = await import("../../server/db/migrate.ts");
    const db = await PGlite.create({ extensions: { vector } });
    await applyMigrations(pgliteExecutor(db), { migrationsDir });
    const dump = await db.dumpDataDir("none");
    await db.close();
    const partial = `${template}.${process.pid}.tmp`;
    writeFileSync(partial, Buffer.from(await dump.arrayBuffer()));
    renameSync(partial, template);
  }
  process.env.PGLITE_TEMPLATE = template;
}
