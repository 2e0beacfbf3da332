// authenticate(headers): API keys (Bearer and x-api-key, cached, revocable), platform JWTs
// (pinned algorithm, exp required, 30 s skew, alg none refused, user created on first sight) and
// the dashboard session cookie; every bad credential is a 401.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { encode } from "@auth/core/jwt";
import { SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { resetEnvForTests } from "../kernel/env.ts";
import { AppError } from "../kernel/errors.ts";
import { testDatabases } from "../../tests/support/db.ts";
import { useServiceDatabase } from "../../tests/support/service-db.ts";
import { authenticate, CLI_ACTOR, requireAuthenticated, requireScope, type Identity } from "./auth.ts";
import { resetAuthSecretForTests } from "./auth-secret.ts";
import { flushKeyLastUsed, generateApiKey } from "./key-lookup.ts";
import { createApiKey, revokeApiKey } from "../features/accounts/keys.ts";
import { createUser } from "../features/accounts/users.ts";

const JWT_SECRET = "platform-jwt-secret-for-tests-0123456789";
const AUTH_SECRET = "dashboard-session-secret-for-tests-0123456789";
const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-auth-"));

beforeAll(() => {
  process.env.JWT_SECRET = JWT_SECRET;
  process.env.JWT_ALGORITHM = "HS256";
  process.env.AUTH_SECRET = AUTH_SECRET;
  process.env.DATA_DIR = dataDir;
  process.env.LOG_LEVEL = "silent";
  delete process.env.REDIS_URL;
  resetEnvForTests();
  resetAuthSecretForTests();
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const headers = (h: Record<string, string>) => new Headers(h);

async function unauthorized(h: Record<string, string>): Promise<string> {
  const err = await authenticate(headers(h)).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, JSON.stringify(h)).toBeInstanceOf(AppError);
  expect((err as AppError).status).toBe(401);
  return (err as AppError).message;
}

const now = () => Math.floor(Date.now() / 1000);
function platformJwt(claims: Record<string, unknown>, options: { secret?: string; alg?: string; exp?: number | null } = {}) {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? "HS256" }).setIssuedAt();
  if (options.exp !== null) jwt.setExpirationTime(options.exp ?? now() + 300);
  return jwt.sign(new TextEncoder().encode(options.secret ?? JWT_SECRET));
}

describe.each(testDatabases())("authenticate on $kind", ({ kind }) => {
  const { queries } = useServiceDatabase(kind);

  describe("API keys", () => {
    it("accepts a key as Bearer and as x-api-key, with its tier and scopes", async () => {
      const { key, apiKey } = await createApiKey(CLI_ACTOR, { name: "worker", tier: "premium", scopes: ["generate", "embeddings"] });
      expect(key).toMatch(/^ms_[0-9A-Za-z]{32}$/);
      expect(apiKey.prefix).toBe(key.slice(0, 11));
      for (const h of [{ authorization: `Bearer ${key}` }, { "x-api-key": key }] as Record<string, string>[]) {
        const who = await authenticate(headers(h));
        expect(who).toMatchObject({
          kind: "apiKey",
          apiKeyId: apiKey.id,
          role: "user",
          tier: "premium",
          scopes: ["generate", "embeddings"],
        });
      }
    });

    it("a key without scopes holds every user scope but not admin; an admin key holds all", async () => {
      const plain = await authenticate(headers({ "x-api-key": (await createApiKey(CLI_ACTOR, { name: "plain" })).key }));
      expect(plain.kind === "apiKey" && plain.scopes).toEqual(["generate", "embeddings", "vectors", "usage:read"]);
      expect(() => requireScope(plain, "admin")).toThrow(/lacks the `admin` scope/);
      const admin = await authenticate(headers({ "x-api-key": (await createApiKey(CLI_ACTOR, { name: "ops", isAdmin: true })).key }));
      expect(admin).toMatchObject({ role: "admin", scopes: ["generate", "embeddings", "vectors", "usage:read", "admin"] });
      const narrow = await authenticate(
        headers({ "x-api-key": (await createApiKey(CLI_ACTOR, { name: "reader", scopes: ["usage:read"] })).key }),
      );
      expect(() => requireScope(narrow, "generate")).toThrow(AppError);
      expect(requireScope(narrow, "usage:read").kind).toBe("apiKey");
    });

    it("no credential is anonymous, and requireAuthenticated answers 401", async () => {
      const who = await authenticate(headers({}));
      expect(who).toEqual({ kind: "anonymous" });
      expect(() => requireAuthenticated(who)).toThrow(expect.objectContaining({ status: 401 }));
    });

    it("a malformed header, an unknown key and a value of no known shape are 401", async () => {
      await unauthorized({ authorization: "Basic dXNlcjpwYXNz" });
      await unauthorized({ authorization: "Bearer" });
      await unauthorized({ authorization: "Bearer a b" });
      expect(await unauthorized({ authorization: `Bearer ${generateApiKey()}` })).toMatch(/Invalid API key/);
      expect(await unauthorized({ "x-api-key": "sk-not-ours-0123456789" })).toMatch(/Unrecognised credential/);
      expect(await unauthorized({ authorization: "Bearer not-a-key" })).toMatch(/Unrecognised credential/);
    });

    it("once warm, resolving a key needs no database round trip", async () => {
      const { key } = await createApiKey(CLI_ACTOR, { name: "hot" });
      await authenticate(headers({ "x-api-key": key }));
      queries.reset();
      const started = performance.now();
      for (let i = 0; i < 200; i++) await authenticate(headers({ "x-api-key": key }));
      // At most the background refresh of a hot entry (one per half-life of 0.5 s), never one per request.
      expect(queries.total()).toBeLessThanOrEqual(Math.floor((performance.now() - started) / 500));
    });

    it("a made-up key is looked up once, then refused from the cache", async () => {
      const bogus = generateApiKey();
      queries.reset();
      await unauthorized({ "x-api-key": bogus });
      expect(queries.total("apiKey.findUnique")).toBe(1);
      queries.reset();
      const started = performance.now();
      for (let i = 0; i < 50; i++) await unauthorized({ "x-api-key": bogus });
      expect(queries.total()).toBeLessThanOrEqual(Math.floor((performance.now() - started) / 500));
    });

    it("limits failed authentication per client address: past 20, 429 without a lookup, while keys it knows keep working", async () => {
      const { key } = await createApiKey(CLI_ACTOR, { name: "behind-one-address" });
      const from = { clientAddress: kind === "pglite" ? "203.0.113.7" : "203.0.113.8" };
      expect((await authenticate(headers({ "x-api-key": key }), from)).kind).toBe("apiKey");
      queries.reset();
      const refusals: AppError[] = [];
      for (let i = 0; i < 30; i++) {
        refusals.push(
          await authenticate(headers({ "x-api-key": generateApiKey() }), from).then(
            () => new AppError("internal_error", "accepted"),
            (e: AppError) => e,
          ),
        );
      }
      expect(refusals.map((e) => e.status)).toEqual([...Array(20).fill(401), ...Array(10).fill(429)]);
      // Each failure was one lookup; the refused ones cost none.
      expect(queries.total("apiKey.findUnique")).toBe(20);
      expect(refusals[29]!.message).toMatch(/Too many failed authentication attempts from this address/);
      expect(Number(refusals[29]!.headers?.["Retry-After"])).toBeGreaterThan(0);
      // A key this instance knows still works from that address; other addresses are not limited.
      expect((await authenticate(headers({ "x-api-key": key }), from)).kind).toBe("apiKey");
      expect(
        await authenticate(headers({ "x-api-key": generateApiKey() }), { clientAddress: "198.51.100.1" }).catch((e: AppError) => e.status),
      ).toBe(401);
    });

    it("a revoked key stops working at once in this process, even when cached", async () => {
      const { key, apiKey } = await createApiKey(CLI_ACTOR, { name: "short-lived" });
      expect((await authenticate(headers({ "x-api-key": key }))).kind).toBe("apiKey");
      await revokeApiKey(CLI_ACTOR, apiKey.id);
      expect(await unauthorized({ "x-api-key": key })).toMatch(/revoked/);
    });

    it("without Redis, a key revoked by another process stops working here within a second", async () => {
      const { key, apiKey } = await createApiKey(CLI_ACTOR, { name: "revoked-elsewhere" });
      expect((await authenticate(headers({ "x-api-key": key }))).kind).toBe("apiKey");
      // Another instance (or the CLI) revokes it: the database changes, nothing tells this process.
      const db = await (await import("../db/index.ts")).getDb();
      const started = performance.now();
      await db.apiKey.update({ where: { id: apiKey.id }, data: { revokedAt: new Date() } });
      for (;;) {
        const ok = await authenticate(headers({ "x-api-key": key })).then(
          () => true,
          () => false,
        );
        if (!ok) break;
        expect(performance.now() - started).toBeLessThan(1_100);
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(performance.now() - started).toBeLessThan(1_100);
    });

    it("an expired key is refused with a 401 that says it expired, and when", async () => {
      const { key, apiKey } = await createApiKey(CLI_ACTOR, { name: "expired", expiresAt: new Date(Date.now() + 60_000) });
      const at = new Date(Date.now() - 1000);
      const db = await (await import("../db/index.ts")).getDb();
      await db.apiKey.update({ where: { id: apiKey.id }, data: { expiresAt: at } });
      const message = await unauthorized({ authorization: `Bearer ${key}` });
      expect(message).toContain(`This API key expired at ${at.toISOString()}`);
    });

    it("a key cannot be created already expired", async () => {
      await expect(createApiKey(CLI_ACTOR, { name: "past", expiresAt: new Date(Date.now() - 1000) })).rejects.toMatchObject({
        status: 400,
        message: expect.stringContaining("must be in the future"),
      });
    });

    it("records the last use in a batch, not per request", async () => {
      const { key, apiKey } = await createApiKey(CLI_ACTOR, { name: "used" });
      const db = await (await import("../db/index.ts")).getDb();
      await authenticate(headers({ "x-api-key": key }));
      expect((await db.apiKey.findUnique({ where: { id: apiKey.id } }))?.lastUsedAt).toBeNull();
      queries.reset();
      for (let i = 0; i < 20; i++) await authenticate(headers({ "x-api-key": key }));
      expect(queries.total("raw")).toBe(0);
      await flushKeyLastUsed();
      expect(queries.total("raw")).toBe(1);
      const lastUsed = (await db.apiKey.findUnique({ where: { id: apiKey.id } }))?.lastUsedAt;
      expect(lastUsed!.getTime()).toBeGreaterThan(Date.now() - 10_000);
    });
  });

  describe("platform JWTs", () => {
    it("verifies a token, makes its subject a user on first sight, and reuses it afterwards", async () => {
      const sub = `svc-${Math.random().toString(36).slice(2)}`;
      const first = await authenticate(headers({ authorization: `Bearer ${await platformJwt({ sub })}` }));
      const again = await authenticate(headers({ authorization: `Bearer ${await platformJwt({ sub, tier: "premium" })}` }));
      expect(first).toMatchObject({ kind: "jwt", subject: sub, role: "user", tier: "standard", apiKeyId: null });
      expect(again).toMatchObject({ kind: "jwt", subject: sub, tier: "premium" });
      expect((again as Extract<Identity, { kind: "jwt" }>).userId).toBe((first as Extract<Identity, { kind: "jwt" }>).userId);
      const db = await (await import("../db/index.ts")).getDb();
      expect(await db.user.count({ where: { externalId: sub } })).toBe(1);
    });

    it("tolerates 30 s of clock skew and no more", async () => {
      await expect(
        authenticate(headers({ authorization: `Bearer ${await platformJwt({ sub: "skew" }, { exp: now() - 20 })}` })),
      ).resolves.toMatchObject({
        kind: "jwt",
      });
      expect(await unauthorized({ authorization: `Bearer ${await platformJwt({ sub: "skew" }, { exp: now() - 40 })}` })).toMatch(/expired/);
    });

    it("refuses a forged, an unsigned (alg none), a wrongly pinned and an exp-less token", async () => {
      expect(
        await unauthorized({ authorization: `Bearer ${await platformJwt({ sub: "x" }, { secret: "not-the-secret-0123456789abcdef" })}` }),
      ).toMatch(/signature/);
      const unsigned = new UnsecuredJWT({ sub: "admin" }).setExpirationTime(now() + 300).encode();
      expect(unsigned.endsWith(".")).toBe(true);
      expect(await unauthorized({ authorization: `Bearer ${unsigned}` })).toMatch(/Invalid JWT/);
      // An HS256 header glued onto an unsigned token's payload, with an empty signature.
      const [, payload] = unsigned.split(".");
      const header = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
      expect(await unauthorized({ authorization: `Bearer ${header}.${payload}.` })).toMatch(/Invalid JWT/);
      expect(await unauthorized({ authorization: `Bearer ${await platformJwt({ sub: "x" }, { alg: "HS512" })}` })).toMatch(/algorithm/);
      expect(await unauthorized({ authorization: `Bearer ${await platformJwt({ sub: "x" }, { exp: null })}` })).toMatch(/exp/);
      expect(await unauthorized({ authorization: `Bearer ${await platformJwt({}, {})}` })).toMatch(/sub/);
      expect(await unauthorized({ authorization: "Bearer eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln" })).toMatch(/Invalid JWT/);
    });

    it("refuses every JWT when JWT_SECRET is not configured", async () => {
      const token = await platformJwt({ sub: "x" });
      delete process.env.JWT_SECRET;
      resetEnvForTests();
      try {
        expect(await unauthorized({ authorization: `Bearer ${token}` })).toMatch(/JWT_SECRET is not configured/);
      } finally {
        process.env.JWT_SECRET = JWT_SECRET;
        resetEnvForTests();
      }
    });
  });

  describe("dashboard session cookie", () => {
    let userId: string;
    beforeEach(async () => {
      userId ??= (await createUser({ email: `ada-${kind}@example.com`, password: "correct horse battery" })).id;
    });
    const cookie = async (claims: Record<string, unknown>, name = "authjs.session-token", secret = AUTH_SECRET) =>
      `${name}=${await encode({ token: claims, secret, salt: name, maxAge: 3600 })}`;

    it("makes the signed-in user the caller (plain and __Secure- cookie names)", async () => {
      for (const name of ["authjs.session-token", "__Secure-authjs.session-token"]) {
        const who = await authenticate(headers({ cookie: `theme=dark; ${await cookie({ sub: userId }, name)}`, host: "gw.local" }));
        expect(who).toMatchObject({ kind: "session", userId, role: "user", email: `ada-${kind}@example.com`, apiKeyId: null });
      }
    });

    it("an explicit credential wins over the cookie, and a bad one is still a 401", async () => {
      const c = await cookie({ sub: userId });
      await unauthorized({ cookie: c, authorization: `Bearer ${generateApiKey()}` });
    });

    it("a forged, foreign-origin or deleted user's cookie is no session", async () => {
      expect(
        await authenticate(headers({ cookie: await cookie({ sub: userId }, undefined, "some-other-secret-0123456789abcdef") })),
      ).toEqual({
        kind: "anonymous",
      });
      expect(await authenticate(headers({ cookie: "authjs.session-token=garbage" }))).toEqual({ kind: "anonymous" });
      const c = await cookie({ sub: userId });
      expect(await authenticate(headers({ cookie: c, host: "gw.local", origin: "https://evil.example" }))).toEqual({ kind: "anonymous" });
      expect((await authenticate(headers({ cookie: c, host: "gw.local", origin: "http://gw.local" }))).kind).toBe("session");
      expect(await authenticate(headers({ cookie: await cookie({ sub: "no-such-user" }) }))).toEqual({ kind: "anonymous" });
    });
  });
});
