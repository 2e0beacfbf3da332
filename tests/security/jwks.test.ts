// Platform JWTs verified against a JSON Web Key Set (JWT_JWKS_URL) served by a real local HTTP
// server, beside the shared-secret HS algorithms: RS256 and ES256 tokens of the set's keys are
// accepted (through the HTTP host too), others refused with 401 naming why (another key, an unknown
// kid, a wrong issuer or audience, `none`, an HS token when no secret is set, an RS256 token never
// checked against the secret); the set is fetched once and cached; a set that never answers makes
// the call 503 within the fetch's deadline, and one that answers garbage 503 too.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { resetEnvForTests } from "@/server/kernel/env.ts";
import { JWKS_TIMEOUT_MS, resetJwtKeysForTests, verifyPlatformJwt } from "@/server/access/platform-jwt.ts";
import { NO_RATE_LIMITS, useHost } from "@/tests/support/host.ts";

process.env.LOG_LEVEL = "silent";

type Mode = "keys" | "hang" | "garbage" | "500";

/** A JWKS endpoint on 127.0.0.1: serves `keys` at /jwks.json, counting fetches; `mode` makes it misbehave. */
async function startJwksServer(keys: JWK[]) {
  const state = { fetches: 0, mode: "keys" as Mode, keys };
  const server: Server = createServer((req, res) => {
    if (req.url !== "/jwks.json") return void res.writeHead(404).end();
    state.fetches++;
    if (state.mode === "hang") return; // never answers
    if (state.mode === "500") return void res.writeHead(500).end("down");
    res.writeHead(200, { "content-type": "application/json" });
    res.end(state.mode === "garbage" ? "<html>not a key set" : JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  return {
    state,
    url,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

type Signer = { kid: string; alg: "RS256" | "ES256"; privateKey: CryptoKey; jwk: JWK };
async function signer(kid: string, alg: "RS256" | "ES256"): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

function token(s: Signer, claims: Record<string, unknown> = {}, header: { kid?: string } = {}) {
  return new SignJWT({ sub: "svc-reports", ...claims })
    .setProtectedHeader({ alg: s.alg, kid: header.kid ?? s.kid })
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(s.privateKey);
}

const SECRET = "shared-hs-secret-for-the-jwks-tests-0123456789";

async function refused(t: string): Promise<{ code: string; message: string; status: number }> {
  try {
    await verifyPlatformJwt(t);
  } catch (e) {
    return e as { code: string; message: string; status: number };
  }
  throw new Error("expected the token to be refused");
}

describe("platform JWTs against a JWKS URL", () => {
  let jwks: Awaited<ReturnType<typeof startJwksServer>>;
  let rsa: Signer;
  let ec: Signer;
  let stranger: Signer;

  beforeAll(async () => {
    [rsa, ec, stranger] = await Promise.all([signer("rsa-1", "RS256"), signer("ec-1", "ES256"), signer("rsa-1", "RS256")]);
    jwks = await startJwksServer([rsa.jwk, ec.jwk]);
  });
  afterAll(async () => {
    await jwks?.close();
    for (const k of ["JWT_JWKS_URL", "JWT_SECRET", "JWT_ISSUER", "JWT_AUDIENCE"]) delete process.env[k];
    resetEnvForTests();
    resetJwtKeysForTests();
  });

  const configure = (env: Record<string, string | undefined>) => {
    for (const k of ["JWT_JWKS_URL", "JWT_SECRET", "JWT_ISSUER", "JWT_AUDIENCE"]) delete process.env[k];
    for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v;
    resetEnvForTests();
    resetJwtKeysForTests();
  };

  beforeEach(() => {
    jwks.state.mode = "keys";
    jwks.state.fetches = 0;
    configure({ JWT_JWKS_URL: jwks.url, JWT_SECRET: SECRET });
  });

  it("accepts RS256 and ES256 tokens of the set's keys beside HS256 ones, fetching the set once", async () => {
    expect(await verifyPlatformJwt(await token(rsa, { tier: "premium" }))).toEqual({ subject: "svc-reports", tier: "premium" });
    expect(await verifyPlatformJwt(await token(ec))).toEqual({ subject: "svc-reports", tier: undefined });
    const hs = await new SignJWT({ sub: "svc-hs" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(SECRET));
    expect(await verifyPlatformJwt(hs)).toEqual({ subject: "svc-hs", tier: undefined });
    for (let i = 0; i < 5; i++) await verifyPlatformJwt(await token(rsa));
    expect(jwks.state.fetches).toBe(1);
  });

  it("refuses a token signed by another key, an unknown kid, none, and bad claims, with 401 naming why", async () => {
    expect(await refused(await token(stranger))).toMatchObject({
      code: "unauthorized",
      message: "Invalid JWT: the signature does not verify",
    });
    const unknownKid = await refused(await token(rsa, {}, { kid: "rsa-2" }));
    expect(unknownKid.message).toBe("Invalid JWT: no key of the key set at JWT_JWKS_URL matches it (its kid and algorithm)");
    const none = new UnsecuredJWT({ sub: "svc" }).setExpirationTime("5m").encode();
    expect((await refused(none)).message).toContain("its algorithm is not allowed");
    const expired = await new SignJWT({ sub: "svc" })
      .setProtectedHeader({ alg: "RS256", kid: "rsa-1" })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 120)
      .sign(rsa.privateKey);
    expect((await refused(expired)).message).toBe("Invalid JWT: it has expired");
    // An RS256 token is never checked against the shared secret, nor an HS one against the key set.
    const forgedHs = await new SignJWT({ sub: "svc" })
      .setProtectedHeader({ alg: "HS256", kid: "rsa-1" })
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode("not-the-secret-0123456789abcdef"));
    expect((await refused(forgedHs)).message).toBe("Invalid JWT: the signature does not verify");
  });

  it("checks iss and aud when JWT_ISSUER and JWT_AUDIENCE are set", async () => {
    configure({ JWT_JWKS_URL: jwks.url, JWT_ISSUER: "https://idp.test", JWT_AUDIENCE: "model-service" });
    expect(await verifyPlatformJwt(await token(rsa, { iss: "https://idp.test", aud: "model-service" }))).toMatchObject({
      subject: "svc-reports",
    });
    expect((await refused(await token(rsa, { iss: "https://other.test", aud: "model-service" }))).message).toContain(
      "claim check failed (iss",
    );
    expect((await refused(await token(rsa, { iss: "https://idp.test", aud: "someone-else" }))).message).toContain(
      "claim check failed (aud",
    );
  });

  it("refuses each algorithm family whose configuration is missing, saying which", async () => {
    configure({ JWT_JWKS_URL: jwks.url });
    const hs = await new SignJWT({ sub: "svc" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(SECRET));
    expect((await refused(hs)).message).toBe("Invalid JWT: its algorithm is not allowed (this service accepts RS256, ES256 only)");
    configure({ JWT_SECRET: SECRET });
    expect((await refused(await token(rsa))).message).toBe(
      "Invalid JWT: its algorithm RS256 needs JWT_JWKS_URL, which is not configured (this service accepts HS256)",
    );
    configure({});
    expect((await refused(await token(rsa))).message).toContain("accepts no JWTs");
  });

  it("answers 503 within the fetch's deadline when the key set hangs, and 503 for garbage or a 500", async () => {
    jwks.state.mode = "hang";
    const started = performance.now();
    const hung = await refused(await token(rsa));
    const took = performance.now() - started;
    expect(hung).toMatchObject({ code: "unavailable", status: 503 });
    expect(hung.message).toContain("did not answer with keys in time");
    expect(took).toBeGreaterThanOrEqual(JWKS_TIMEOUT_MS - 100);
    expect(took).toBeLessThan(JWKS_TIMEOUT_MS + 2_000);
    for (const mode of ["garbage", "500"] as const) {
      resetJwtKeysForTests();
      jwks.state.mode = mode;
      expect(await refused(await token(rsa)), mode).toMatchObject({ code: "unavailable", status: 503 });
    }
    // Back up: accepted again.
    resetJwtKeysForTests();
    jwks.state.mode = "keys";
    expect(await verifyPlatformJwt(await token(rsa))).toMatchObject({ subject: "svc-reports" });
  }, 15_000);
});

describe("a JWKS-signed platform JWT through the HTTP host", () => {
  let jwks: Awaited<ReturnType<typeof startJwksServer>>;
  let rsa: Signer;
  const env: Record<string, string> = { ...NO_RATE_LIMITS };
  beforeAll(async () => {
    rsa = await signer("host-key", "RS256");
    jwks = await startJwksServer([rsa.jwk]);
    env.JWT_JWKS_URL = jwks.url;
  });
  afterAll(async () => {
    await jwks?.close();
    delete process.env.JWT_JWKS_URL;
    resetEnvForTests();
    resetJwtKeysForTests();
  });
  const host = useHost({ env });

  it("authenticates the caller as the token's subject; a bad token is 401 in the JSON error shape", async () => {
    const ok = await fetch(`${host.url}/v1/auth/whoami`, { headers: { authorization: `Bearer ${await token(rsa, { tier: "basic" })}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ kind: "jwt", tier: "basic" });
    const stranger = await signer("host-key", "RS256");
    const bad = await fetch(`${host.url}/v1/auth/whoami`, { headers: { authorization: `Bearer ${await token(stranger)}` } });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ error: { code: "unauthorized", message: "Invalid JWT: the signature does not verify" } });
  });
});
