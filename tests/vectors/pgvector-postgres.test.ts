// pgvector on real PostgreSQL (TEST_DATABASE_URL). Where the server has the extension, the whole
// contract runs. Where it has not (Debian's PostgreSQL 15 here), the service must say so: the store
// is unavailable with how to fix it, vector calls answer 503 with that message, /health shows it
// under `vectors` and stays 200, and everything else keeps working.
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { resetEnvForTests } from "@/server/kernel/env.ts";
import { health, ping } from "@/server/features/system/health.rest.ts";
import { vectorCollections, vectorSearch } from "@/server/features/vectors/vectors.rest.ts";
import { CLI_ACTOR } from "@/server/access/auth.ts";
import { createApiKey } from "@/server/features/accounts/keys.ts";
import { resetRateLimitersForTests } from "@/server/access/rate-limits.ts";
import { getVectorStore, resetVectorStoreForTests } from "@/server/vectors/index.ts";
import { PGVECTOR_MISSING, PgVectorStore } from "@/server/vectors/pgvector.ts";
import { createTestDatabase, testDatabaseUrl } from "../support/db.ts";
import { useServiceDatabase } from "../support/service-db.ts";
import { vectorStoreContract } from "./contract.ts";

async function serverHasPgvector(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'vector'`)).rowCount === 1;
  } finally {
    await client.end();
  }
}

const url = testDatabaseUrl();
const hasPgvector = url ? await serverHasPgvector(url) : false;

if (url && hasPgvector) {
  vectorStoreContract("pgvector on PostgreSQL", async () => {
    const db = await createTestDatabase("postgres");
    return { store: new PgVectorStore({ db: async () => db }), close: () => db.destroy() };
  });
}

describe.runIf(url && !hasPgvector)("PostgreSQL without pgvector", () => {
  useServiceDatabase("postgres");
  let key: string;
  let adminKey: string;

  beforeAll(async () => {
    for (const v of ["QDRANT_URL", "QDRANT_HOST", "REDIS_URL"]) delete process.env[v];
    process.env.LOG_LEVEL = "silent";
    resetEnvForTests();
    resetVectorStoreForTests();
    resetRateLimitersForTests();
    key = (await createApiKey(CLI_ACTOR, { name: "pg", tier: "premium" })).key;
    adminKey = (await createApiKey(CLI_ACTOR, { name: "pg-admin", isAdmin: true })).key;
  });

  const post = (handlers: typeof vectorCollections, body: unknown) =>
    handlers.POST(
      new Request("http://localhost/v1/vector/x", {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
    );

  it("the store is unavailable and says how to fix it", async () => {
    const status = await getVectorStore().status();
    expect(status).toEqual({ available: false, reason: PGVECTOR_MISSING });
    expect(PGVECTOR_MISSING).toMatch(/install pgvector/i);
    expect(PGVECTOR_MISSING).toMatch(/QDRANT_URL/);
  });

  it("vector calls answer 503 with that message", async () => {
    for (const [handlers, body] of [
      [vectorCollections, { collection_name: "docs", vector_size: 3 }],
      [vectorSearch, { collection_name: "docs", query_vector: [1, 2, 3] }],
    ] as const) {
      const res = await post(handlers, body);
      expect(res.status).toBe(503);
      const error = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect(error).toMatchObject({ code: "unavailable", message: PGVECTOR_MISSING });
    }
    const list = await vectorCollections.GET(
      new Request("http://localhost/v1/vector/collections", { headers: { authorization: `Bearer ${key}` } }),
    );
    expect(list.status).toBe(503);
  });

  it("/health shows vectors: error (with the message for an admin), and stays 200 because the rest works", async () => {
    type Report = { status: string; dependencies: Record<string, { status: string; message?: string; backend?: string }> };
    const res = await health.GET(new Request("http://localhost/health"));
    const body = (await res.json()) as Report;
    expect(res.status).toBe(200);
    expect(body.status).toBe("ok");
    expect(body.dependencies.database).toMatchObject({ status: "ok", backend: "postgres" });
    expect(body.dependencies.vectors).toEqual({ status: "error", backend: "pgvector", latency_ms: expect.any(Number) });
    const asAdmin = (await (
      await health.GET(new Request("http://localhost/health", { headers: { authorization: `Bearer ${adminKey}` } }))
    ).json()) as Report;
    expect(asAdmin.dependencies.vectors).toMatchObject({ status: "error", backend: "pgvector", message: PGVECTOR_MISSING });
    expect((await ping.GET(new Request("http://localhost/ping"))).status).toBe(200);
  });
});
