// GET /health and who sees what: anyone gets each dependency's state, only an admin the versions
// and the error text (a socket error names hosts and ports). Redis failing is `degraded`, named,
// and still 200 (the service falls back without it); the database failing is 503.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pkg from "../../../package.json" with { type: "json" };
import { resetEnvForTests } from "../../kernel/env.ts";
import { resetRedisForTests } from "../../kernel/redis.ts";
import { CLI_ACTOR } from "../../access/auth.ts";
import { createApiKey } from "../accounts/keys.ts";
import { useServiceDatabase } from "../../../tests/support/service-db.ts";
import { health } from "./health.rest.ts";

type Report = {
  status: string;
  version?: string;
  degraded?: string[];
  dependencies: Record<string, { status: string; message?: string; backend?: string }>;
};

/** A port nothing listens on: Redis there is refused. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("GET /health with Redis refused", () => {
  useServiceDatabase("pglite");
  let admin: string;
  let user: string;

  beforeAll(async () => {
    Object.assign(process.env, { REDIS_URL: `redis://127.0.0.1:${await closedPort()}`, LOG_LEVEL: "silent" });
    resetEnvForTests();
    resetRedisForTests();
    admin = (await createApiKey(CLI_ACTOR, { name: "ops", isAdmin: true })).key;
    user = (await createApiKey(CLI_ACTOR, { name: "app" })).key;
  });
  afterAll(() => {
    delete process.env.REDIS_URL;
    resetEnvForTests();
    resetRedisForTests();
  });

  const get = async (headers: Record<string, string> = {}) => {
    const res = await health.GET(new Request("http://localhost/health", { headers }));
    return { status: res.status, body: (await res.json()) as Report };
  };

  it("tells anyone it is degraded and by what, without versions or error text, and stays 200", async () => {
    for (const headers of [
      {},
      { authorization: `Bearer ${user}` },
      { authorization: "Bearer ms_not_a_real_key_000000000000000" },
    ] as Record<string, string>[]) {
      const { status, body } = await get(headers);
      expect(status).toBe(200);
      expect(body).toMatchObject({
        status: "degraded",
        degraded: ["redis"],
        dependencies: { database: { status: "ok" }, redis: { status: "error", backend: "redis" } },
      });
      expect(body).not.toHaveProperty("version");
      expect(JSON.stringify(body)).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|message/);
    }
  });

  it("shows an admin the version and what Redis's connection reports", async () => {
    const { status, body } = await get({ authorization: `Bearer ${admin}` });
    expect(status).toBe(200);
    expect(body.version).toBe(pkg.version);
    expect(body.dependencies.redis?.message).toMatch(/not connected/);
  });
});
