// The REST wrapper's security: every endpoint but /health and /ping needs a credential, scopes
// and /metrics access, rate limits with X-RateLimit-* (429 with Retry-After, in the JSON error
// shape), and no secret ever reaching a log line or an error body.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { resetEnvForTests } from "../kernel/env.ts";
import { createLogger } from "../kernel/logger.ts";
import { AppError } from "../kernel/errors.ts";
import { resetAuthSecretForTests } from "../access/auth-secret.ts";
import { CLI_ACTOR } from "../access/auth.ts";
import { createApiKey, revokeApiKey } from "../features/accounts/keys.ts";
import { resetRateLimitersForTests } from "../access/rate-limits.ts";
import { createUser, verifyCredentials } from "../features/accounts/users.ts";
import { useServiceDatabase } from "../../tests/support/service-db.ts";
import { endpoint, route } from "../http/endpoint.ts";
import { leanRoutes } from "./routes.ts";

const SECRETS = {
  JWT_SECRET: "jwt-secret-never-to-be-seen-0123456789",
  AUTH_SECRET: "auth-secret-never-to-be-seen-0123456789",
  METRICS_TOKEN: "metrics-token-never-to-be-seen-0123456789",
};
const PASSWORD = "user-password-never-to-be-seen";
const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-security-"));
Object.assign(process.env, SECRETS, {
  DATA_DIR: dataDir,
  LOG_LEVEL: "trace",
  LOG_FORMAT: "json",
  RATE_LIMIT_REQUESTS: "3",
  RATE_LIMIT_WINDOW: "60",
  RATE_LIMITS: '{"tier:basic":"5/hour"}',
});
delete process.env.REDIS_URL;
resetEnvForTests();

// The service's own logger (its redaction included), writing every line of the run here.
const logText: string[] = [];
(globalThis as unknown as { __modelServiceLogger: unknown }).__modelServiceLogger = createLogger(
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      logText.push(chunk.toString());
      cb();
    },
  }),
);

beforeAll(() => {
  resetEnvForTests();
  resetAuthSecretForTests();
  resetRateLimitersForTests();
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const secretsUsed: string[] = [...Object.values(SECRETS), PASSWORD];
const bodies: string[] = [];

async function send(
  handlers: Record<string, (req: Request) => Promise<Response>>,
  method: string,
  url: string,
  headers: Record<string, string> = {},
  body?: string,
) {
  const res = await handlers[method]!(new Request(url, { method, headers, body }));
  const text = await res.text();
  bodies.push(text);
  return { res, text, json: () => JSON.parse(text) as { error: { code: string; message: string } } };
}

const echo = endpoint({
  GET: route({ access: "user", handler: async ({ identity }) => ({ kind: identity.kind }) }),
  POST: route({
    access: "user",
    scope: "generate",
    rateLimit: "generate",
    body: (await import("zod")).z.object({ prompt: (await import("zod")).z.string() }),
    handler: async ({ body }) => ({ echo: body.prompt }),
  }),
  DELETE: route({
    access: "user",
    handler: async () => {
      // An unexpected failure whose message carries a secret: the response must not show it.
      throw new Error(`connect failed with password=${PASSWORD} and ${SECRETS.JWT_SECRET}`);
    },
  }),
});
const metrics = endpoint({ GET: route({ access: "metrics", handler: async () => new Response("# metrics\n") }) });

describe("REST security", () => {
  useServiceDatabase("pglite");
  let userKey: string;
  let basicKey: string;
  let readerKey: string;
  let adminKey: string;

  beforeAll(async () => {
    userKey = (await createApiKey(CLI_ACTOR, { name: "user", tier: "premium" })).key;
    basicKey = (await createApiKey(CLI_ACTOR, { name: "basic", tier: "basic" })).key;
    readerKey = (await createApiKey(CLI_ACTOR, { name: "reader", scopes: ["usage:read"], tier: "premium" })).key;
    adminKey = (await createApiKey(CLI_ACTOR, { name: "admin", isAdmin: true, tier: "premium" })).key;
    secretsUsed.push(userKey, basicKey, readerKey, adminKey);
  });
  beforeEach(() => resetRateLimitersForTests());

  it("every served endpoint but /health, /ping and the OpenAPI document answers 401 without a credential", async () => {
    const open = new Set(["/health", "/ping", "/v1/openapi.json"]);
    let checked = 0;
    for (const r of leanRoutes) {
      // tRPC decides per procedure (system.info is public; an unknown procedure is 404): server/trpc/trpc.test.ts.
      if (r.pattern.startsWith("/api/trpc/")) continue;
      const url = `http://gw.local${r.pattern.replace(/:(\w+)/g, "x")}`;
      for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE"] as const) {
        const res = await r.handlers[method](
          new Request(url, { method, headers: { "content-type": "application/json" }, body: method === "GET" ? undefined : "{}" }),
        );
        if (res.status === 405) continue;
        if (open.has(r.pattern)) {
          expect(res.status, `${method} ${r.pattern}`).toBeLessThan(500);
          continue;
        }
        expect(res.status, `${method} ${r.pattern} without a credential`).toBe(401);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it("answers 401 for a malformed, unknown or revoked key and for bad JWTs, in the JSON error shape", async () => {
    const revoked = await createApiKey(CLI_ACTOR, { name: "revoked" });
    await revokeApiKey(CLI_ACTOR, revoked.apiKey.id);
    secretsUsed.push(revoked.key);
    const expired = await new SignJWT({ sub: "svc" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 120)
      .sign(new TextEncoder().encode(SECRETS.JWT_SECRET));
    const forged = await new SignJWT({ sub: "svc" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode("forged-secret-0123456789abcdef"));
    const unsigned = new UnsecuredJWT({ sub: "svc" }).setExpirationTime("5m").encode();
    secretsUsed.push(expired, forged, unsigned);
    const cases: Record<string, string>[] = [
      {},
      { authorization: "Token abc" },
      { authorization: "Bearer ms_short" },
      { "x-api-key": `${userKey}x` },
      { "x-api-key": revoked.key },
      { authorization: `Bearer ${expired}` },
      { authorization: `Bearer ${forged}` },
      { authorization: `Bearer ${unsigned}` },
    ];
    for (const headers of cases) {
      const r = await send(echo, "GET", "http://gw.local/echo", headers);
      expect(r.res.status, JSON.stringify(Object.keys(headers))).toBe(401);
      expect(r.json().error.code).toBe("unauthorized");
      expect(r.res.headers.get("x-ratelimit-limit")).toBeNull();
    }
    expect((await send(echo, "GET", "http://gw.local/echo", { "x-api-key": userKey })).json()).toEqual({ kind: "apiKey" });
  });

  it("enforces the scope a route declares", async () => {
    const r = await send(
      echo,
      "POST",
      "http://gw.local/echo",
      { "x-api-key": readerKey, "content-type": "application/json" },
      '{"prompt":"hi"}',
    );
    expect(r.res.status).toBe(403);
    expect(r.json().error.message).toMatch(/lacks the `generate` scope/);
  });

  it("sets X-RateLimit-* on every limited response and answers 429 with Retry-After past the limit", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await send(echo, "GET", "http://gw.local/echo", { authorization: `Bearer ${userKey}` });
      statuses.push(r.res.status);
      expect(r.res.headers.get("x-ratelimit-limit")).toBe("3");
      expect(r.res.headers.get("x-ratelimit-remaining")).toBe(String(Math.max(0, 2 - i)));
      expect(Number(r.res.headers.get("x-ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000);
      if (r.res.status === 429) {
        expect(Number(r.res.headers.get("retry-after"))).toBeGreaterThan(0);
        expect(r.json().error.code).toBe("rate_limited");
      } else {
        expect(r.res.headers.get("retry-after")).toBeNull();
      }
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it("counts after auth and before parsing: a bad body still counts and carries the headers", async () => {
    const headers = { "x-api-key": userKey, "content-type": "application/json" };
    const bad = await send(echo, "POST", "http://gw.local/echo", headers, '{"prompt": 5}');
    expect(bad.res.status).toBe(400);
    expect(bad.res.headers.get("x-ratelimit-limit")).toBe("10");
    expect(bad.res.headers.get("x-ratelimit-remaining")).toBe("9");
  });

  it("the tier limit applies across endpoints", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await send(echo, "GET", "http://gw.local/echo", { "x-api-key": basicKey })).res.status);
    for (let i = 0; i < 3; i++) {
      statuses.push(
        (await send(echo, "POST", "http://gw.local/echo", { "x-api-key": basicKey, "content-type": "application/json" }, '{"prompt":"x"}'))
          .res.status,
      );
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
  });

  it("/metrics takes an admin key or METRICS_TOKEN", async () => {
    expect((await send(metrics, "GET", "http://gw.local/metrics")).res.status).toBe(401);
    expect((await send(metrics, "GET", "http://gw.local/metrics", { "x-api-key": userKey })).res.status).toBe(403);
    expect((await send(metrics, "GET", "http://gw.local/metrics", { authorization: "Bearer wrong-token" })).res.status).toBe(401);
    expect((await send(metrics, "GET", "http://gw.local/metrics", { authorization: `Bearer ${SECRETS.METRICS_TOKEN}` })).res.status).toBe(
      200,
    );
    expect((await send(metrics, "GET", "http://gw.local/metrics", { "x-api-key": adminKey })).res.status).toBe(200);
  });

  it("an unexpected error answers 500 without its message", async () => {
    const r = await send(echo, "DELETE", "http://gw.local/echo", { "x-api-key": adminKey });
    expect(r.res.status).toBe(500);
    expect(r.json().error.message).toMatch(/Internal error/);
  });

  it("a wrong password is refused, the right one accepted", async () => {
    await createUser({ email: "grace@example.com", password: PASSWORD });
    expect(await verifyCredentials("grace@example.com", `${PASSWORD}!`)).toBeNull();
    expect(await verifyCredentials("nobody@example.com", PASSWORD)).toBeNull();
    expect((await verifyCredentials("GRACE@example.com", PASSWORD))?.email).toBe("grace@example.com");
    await expect(createUser({ email: "grace@example.com", password: PASSWORD })).rejects.toBeInstanceOf(AppError);
  });

  // Last: searches everything the run logged and answered.
  it("no key, JWT, secret or password appears in a log line or a response body", async () => {
    const everything = [...logText, ...bodies].join("\n");
    expect(logText.length).toBeGreaterThan(0);
    expect(bodies.length).toBeGreaterThan(20);
    for (const secret of secretsUsed) {
      expect(everything.includes(secret), `a secret (${secret.slice(0, 6)}…) leaked`).toBe(false);
    }
  });
});
