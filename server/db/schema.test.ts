// The migrated database matches prisma/schema.prisma, PGlite and PostgreSQL end up with the same
// tables, and the Prisma client works through both adapters (including raw SQL for bulk paths).
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createTestDatabase, testDatabases, useTestDatabase, type TestDatabase } from "@/tests/support/db.ts";

interface SchemaModel {
  name: string;
  table: string;
  columns: Map<string, { optional: boolean; list: boolean }>;
}

/** A small reader of schema.prisma: models, their @@map, and their scalar fields' @map names. */
function readSchema(): { models: SchemaModel[]; enums: Map<string, string[]> } {
  const text = readFileSync(path.resolve("prisma/schema.prisma"), "utf8").replace(/\/\/.*$/gm, "");
  const enums = new Map<string, string[]>();
  for (const m of text.matchAll(/^enum\s+(\w+)\s*\{([^}]*)\}/gm)) {
    enums.set(
      m[1]!,
      m[2]!.split(/\s+/).filter((w) => /^\w+$/.test(w)),
    );
  }
  // A block ends at the `}` that starts a line: a default may hold braces (`@default("{}")`).
  const blocks = [...text.matchAll(/^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm)];
  const modelNames = new Set(blocks.map((b) => b[1]!));
  const models = blocks.map((b) => {
    const name = b[1]!;
    const body = b[2]!;
    const table = /@@map\("([^"]+)"\)/.exec(body)?.[1] ?? name;
    const columns = new Map<string, { optional: boolean; list: boolean }>();
    for (const line of body.split("\n")) {
      const f = /^\s*(\w+)\s+(\w+)(\[\])?(\?)?(.*)$/.exec(line);
      if (!f || line.trim().startsWith("@@")) continue;
      const [, field, type, list, optional, rest] = f;
      if (modelNames.has(type!)) continue; // a relation, not a column
      const column = /@map\("([^"]+)"\)/.exec(rest!)?.[1] ?? field!;
      columns.set(column, { optional: Boolean(optional), list: Boolean(list) });
    }
    return { name, table, columns };
  });
  return { models, enums };
}

async function describeTables(db: TestDatabase) {
  const columns = await db.rawQuery<Record<string, string | null>>(
    `SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default,
            character_maximum_length::text AS len, numeric_precision::text AS prec, numeric_scale::text AS scale,
            datetime_precision::text AS dtprec
       FROM information_schema.columns WHERE table_schema = 'public'
      ORDER BY table_name, column_name`,
  );
  const indexes = await db.rawQuery<Record<string, string>>(
    `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY tablename, indexname`,
  );
  const constraints = await db.rawQuery<Record<string, string>>(
    `SELECT conrelid::regclass::text AS table, conname, pg_get_constraintdef(oid) AS def
       FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2`,
  );
  const enums = await db.rawQuery<Record<string, string>>(
    `SELECT t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) AS labels
       FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
      WHERE t.typnamespace = 'public'::regnamespace GROUP BY t.typname ORDER BY 1`,
  );
  return { columns, indexes, constraints, enums };
}

describe.each(testDatabases())("migrated schema on $kind", ({ kind }) => {
  const db = useTestDatabase(kind);

  it("has each model's mapped table with exactly its mapped columns and nullability", async () => {
    const { models, enums } = readSchema();
    expect(models.length).toBeGreaterThanOrEqual(6);
    const { columns, enums: dbEnums } = await describeTables(db);
    const tables = new Map<string, Map<string, string>>();
    for (const c of columns) {
      if (!tables.has(c.table_name!)) tables.set(c.table_name!, new Map());
      tables.get(c.table_name!)!.set(c.column_name!, c.is_nullable!);
    }
    for (const model of models) {
      const table = tables.get(model.table);
      expect(table, `table ${model.table} for model ${model.name}`).toBeDefined();
      expect([...table!.keys()].sort(), `columns of ${model.table}`).toEqual([...model.columns.keys()].sort());
      for (const [column, { optional, list }] of model.columns) {
        // Prisma leaves scalar lists nullable in SQL.
        expect(table!.get(column), `${model.table}.${column} nullability`).toBe(optional || list ? "YES" : "NO");
      }
    }
    expect([...tables.keys()].sort()).toEqual([...models.map((m) => m.table), "_prisma_migrations"].sort());
    expect(Object.fromEntries(dbEnums.map((e) => [e.typname, e.labels!.split(",")]))).toEqual(Object.fromEntries(enums));
  });

  it("creates and reads a User through the Prisma client", async () => {
    const created = await db.prisma.user.create({
      data: {
        email: `someone-${kind}@example.com`,
        name: "Someone",
        apiKeys: { create: { name: "k", prefix: "ms-abc", keyHash: `hash-${kind}` } },
      },
    });
    expect(created.id).toMatch(/^c[a-z0-9]{20,}$/);
    expect(created.role).toBe("user");
    const read = await db.prisma.user.findUnique({ where: { email: `someone-${kind}@example.com` }, include: { apiKeys: true } });
    expect(read?.name).toBe("Someone");
    expect(read?.apiKeys.map((k) => [k.prefix, k.tier, k.scopes])).toEqual([["ms-abc", "standard", []]]);
    expect(read?.createdAt).toBeInstanceOf(Date);
    // The foreign key cascades.
    await db.prisma.user.delete({ where: { id: created.id } });
    expect(await db.prisma.apiKey.count()).toBe(0);
  });

  it("runs raw bulk SQL (INSERT ... SELECT unnest) through Prisma and through rawQuery", async () => {
    const n = await db.prisma.$executeRawUnsafe(
      `INSERT INTO usage_events (id, created_at, endpoint, kind, model_id, provider, status, latency_ms, total_cost)
       SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::numeric[])`,
      ["e1", "e2"],
      [new Date("2026-01-01T00:00:00Z"), new Date("2026-01-01T00:00:01Z")],
      ["chat", "chat"],
      ["llm", "llm"],
      ["gpt-x", "gpt-x"],
      ["openai", "openai"],
      ["success", "error"],
      [10, 20],
      ["0.000000000001", "0.5"],
    );
    expect(n).toBe(2);
    await db.rawQuery(
      `INSERT INTO usage_events (id, created_at, endpoint, kind, model_id, provider, status, latency_ms)
       SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[])`,
      [["e3"], [new Date("2026-01-02T00:00:00Z")], ["embed"], ["embedding"], ["emb-x"], ["openai"], ["success"], [5]],
    );
    const rows = await db.prisma.$queryRawUnsafe<{ id: string; total_cost: unknown; latency_ms: number }[]>(
      `SELECT id, total_cost, latency_ms FROM usage_events WHERE latency_ms >= $1 ORDER BY id`,
      5,
    );
    expect(rows.map((r) => [r.id, String(r.total_cost), r.latency_ms])).toEqual([
      ["e1", "1e-12", 10],
      ["e2", "0.5", 20],
      ["e3", "0", 5],
    ]);
    const viaRaw = await db.rawQuery<{ total: string }>(`SELECT sum(total_cost)::text AS total FROM usage_events`);
    expect(viaRaw[0]!.total).toBe("0.500000000001");
    const events = await db.prisma.usageEvent.findMany({ orderBy: { id: "asc" } });
    expect(events[0]!.totalCost.toFixed(12)).toBe("0.000000000001");
  });
});

describe.runIf(Boolean(process.env.TEST_DATABASE_URL))("PostgreSQL and PGlite after the migrations", () => {
  it("have the same columns (type, nullability, default), indexes, constraints and enums", async () => {
    const [lite, real] = await Promise.all([createTestDatabase("pglite"), createTestDatabase("postgres")]);
    try {
      const [a, b] = await Promise.all([describeTables(lite), describeTables(real)]);
      expect(a.columns.length).toBeGreaterThan(50);
      expect(a.indexes.length).toBeGreaterThan(10);
      expect(a.columns).toEqual(b.columns);
      expect(a.indexes).toEqual(b.indexes);
      expect(a.constraints).toEqual(b.constraints);
      expect(a.enums).toEqual(b.enums);
    } finally {
      await Promise.all([lite.destroy(), real.destroy()]);
    }
  }, 120_000);
});

describe.runIf(Boolean(process.env.TEST_DATABASE_URL))("the service's PostgreSQL connections", () => {
  it("run with JIT off on every pooled connection (compiling cost more than the statistics queries run)", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    const db = await createTestDatabase("postgres");
    try {
      // Ten at once: the pool opens several connections, and each one's first query sees the setting.
      const seen = await Promise.all(
        Array.from({ length: 10 }, () =>
          db.rawQuery<{ jit: string; pid: number }>("SELECT current_setting('jit') AS jit, pg_backend_pid() AS pid, pg_sleep(0.05)"),
        ),
      );
      expect(new Set(seen.map((r) => r[0]!.pid)).size).toBeGreaterThan(1);
      expect(seen.map((r) => r[0]!.jit)).toEqual(Array(10).fill("off"));
      const viaPrisma = await db.prisma.$queryRawUnsafe<{ jit: string }[]>("SELECT current_setting('jit') AS jit");
      expect(viaPrisma[0]!.jit).toBe("off");
      // The setting is made before the pool hands a connection out, not queued beside its first query.
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => /already executing a query/.test(w))).toEqual([]);
    } finally {
      process.off("warning", onWarning);
      await db.destroy();
    }
  }, 60_000);
});
