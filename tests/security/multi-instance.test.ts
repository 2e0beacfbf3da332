// Two real server processes (`server/host/main.ts --api-only`) on one PostgreSQL database and one
// Redis: they share one rate-limit budget (exactly 10 of 50 concurrent requests pass a limit of
// 10), a key revoked anywhere stops working on both within a second, one user's credentials see
// only their own data, and nothing the run logged or answered contains a secret it used.
// Needs TEST_DATABASE_URL and TEST_REDIS_URL (CI sets both).
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createScratchPostgres, testDatabaseUrl } from "../support/db.ts";

const redisUrl = process.env.TEST_REDIS_URL?.trim();
const root = path.resolve(import.meta.dirname, "../..");

const SECRETS = {
  JWT_SECRET: `jwt-${randomBytes(16).toString("hex")}`,
  AUTH_SECRET: `auth-${randomBytes(16).toString("hex")}`,
  METRICS_TOKEN: `metrics-${randomBytes(16).toString("hex")}`,
};

type Instance = { url: string; child: ChildProcess; output: string[]; dataDir: string };

function startInstance(env: Record<string, string>): Promise<Instance> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-multi-"));
  const child = spawn(
    path.join(root, "node_modules/.bin/tsx"),
    ["--import", "./scripts/server-only-hook.mjs", "server/host/main.ts", "--api-only"],
    {
      cwd: root,
      env: { ...process.env, ...env, DATA_DIR: dataDir, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", LOG_FORMAT: "json" },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const output: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "Model Service listening" within 90 s:\n${output.join("")}`)), 90_000);
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString());
      for (const line of chunk.toString().split("\n")) {
        if (!line.includes("Model Service listening")) continue;
        clearTimeout(timer);
        resolve({ url: (JSON.parse(line) as { url: string }).url, child, output, dataDir });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (c: Buffer) => output.push(c.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}):\n${output.join("")}`));
    });
  });
}

async function stopInstance(i: Instance | undefined): Promise<void> {
  if (!i?.child.pid) return;
  const exited = new Promise((resolve) => i.child.once("exit", resolve));
  try {
    process.kill(-i.child.pid, "SIGTERM");
  } catch {
    return;
  }
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  try {
    process.kill(-i.child.pid, "SIGKILL");
  } catch {
    // already gone
  }
  rmSync(i.dataDir, { recursive: true, force: true });
}

describe.runIf(testDatabaseUrl() && redisUrl)("two instances on one PostgreSQL and one Redis", () => {
  const prefix = `mstest-${randomBytes(4).toString("hex")}:`;
  const bodies: string[] = [];
  const secretsUsed: string[] = Object.values(SECRETS);
  let scratch: Awaited<ReturnType<typeof createScratchPostgres>>;
  let a: Instance | undefined;
  let b: Instance | undefined;
  // The services in this process act on the same database and Redis, as the CLI would.
  let services: {
    keys: typeof import("@/server/features/accounts/keys.ts");
    users: typeof import("@/server/features/accounts/users.ts");
    auth: typeof import("@/server/access/auth.ts");
    lifecycle: typeof import("@/server/kernel/lifecycle.ts");
    db: typeof import("@/server/db/index.ts");
  };

  beforeAll(async () => {
    scratch = await createScratchPostgres();
    const env = {
      ...SECRETS,
      DATABASE_URL: scratch.url,
      REDIS_URL: redisUrl!,
      REDIS_KEY_PREFIX: prefix,
      RATE_LIMIT_REQUESTS: "10",
      RATE_LIMIT_WINDOW: "60",
    };
    [a, b] = await Promise.all([startInstance(env), startInstance(env)]);
    Object.assign(process.env, env, { LOG_LEVEL: "silent" });
    (await import("@/server/kernel/env.ts")).resetEnvForTests();
    services = {
      keys: await import("@/server/features/accounts/keys.ts"),
      users: await import("@/server/features/accounts/users.ts"),
      auth: await import("@/server/access/auth.ts"),
      lifecycle: await import("@/server/kernel/lifecycle.ts"),
      db: await import("@/server/db/index.ts"),
    };
  }, 180_000);

  afterAll(async () => {
    await Promise.all([stopInstance(a), stopInstance(b)]);
    await services?.lifecycle.runShutdownHooks();
    await services?.db.closeDb();
    const { Redis } = await import("ioredis");
    const r = new Redis(redisUrl!);
    const keys = await r.keys(`${prefix}*`);
    if (keys.length) await r.del(...keys);
    await r.quit();
    await scratch?.drop();
  }, 60_000);

  async function get(instance: Instance, pathName: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${instance.url}${pathName}`, { headers });
    const text = await res.text();
    bodies.push(text);
    return { status: res.status, headers: res.headers, text };
  }

  async function newKey(input: Parameters<typeof services.keys.createApiKey>[1]) {
    const created = await services.keys.createApiKey(services.auth.CLI_ACTOR, input);
    secretsUsed.push(created.key);
    return created;
  }

  it("share one budget: exactly 10 of 50 concurrent requests pass a limit of 10", async () => {
    const { key } = await newKey({ name: "burst", tier: "premium" });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => get(i % 2 ? a! : b!, "/v1/auth/whoami", { authorization: `Bearer ${key}` })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(40);
    const refused = results.find((r) => r.status === 429)!;
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(refused.headers.get("x-ratelimit-limit")).toBe("10");
    expect(refused.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(JSON.parse(refused.text)).toMatchObject({ error: { code: "rate_limited" } });
  });

  it("a budget spent on one instance is spent on the other", async () => {
    const { key } = await newKey({ name: "shared", tier: "premium" });
    for (let i = 0; i < 10; i++) expect((await get(a!, "/v1/auth/whoami", { "x-api-key": key })).status).toBe(200);
    const other = await get(b!, "/v1/auth/whoami", { "x-api-key": key });
    expect(other.status).toBe(429);
    expect(other.headers.get("x-ratelimit-remaining")).toBe("0");
  });

  it("a revoked key stops working on every instance within a second", async () => {
    const { key, apiKey } = await newKey({ name: "to-revoke", tier: "premium" });
    const h = { "x-api-key": key };
    // Warm both instances' caches.
    expect((await get(a!, "/v1/auth/whoami", h)).status).toBe(200);
    expect((await get(b!, "/v1/auth/whoami", h)).status).toBe(200);
    const started = performance.now();
    await services.keys.revokeApiKey(services.auth.CLI_ACTOR, apiKey.id);
    const stoppedAfter: number[] = [];
    for (const instance of [a!, b!]) {
      for (;;) {
        const r = await get(instance, "/v1/auth/whoami", h);
        if (r.status === 401) break;
        expect(r.status).toBe(200);
        expect(performance.now() - started).toBeLessThan(1_000);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      stoppedAfter.push(performance.now() - started);
    }
    expect(Math.max(...stoppedAfter)).toBeLessThan(1_000);
  });

  it("answers 401 for no key, a malformed key, and an expired, forged or alg-none JWT", async () => {
    const secret = new TextEncoder().encode(SECRETS.JWT_SECRET);
    const valid = await new SignJWT({ sub: "svc-multi", tier: "premium" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("5m")
      .sign(secret);
    const expired = await new SignJWT({ sub: "svc-multi" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(secret);
    const forged = await new SignJWT({ sub: "svc-multi" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(`forged-${randomBytes(8).toString("hex")}`));
    const [, payload] = valid.split(".");
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${payload}.`;
    secretsUsed.push(valid, expired, forged, none);
    for (const headers of [
      {},
      { authorization: "Bearer" },
      { authorization: "Bearer ms_not-a-real-key" },
      { "x-api-key": "garbage" },
      { authorization: `Bearer ${expired}` },
      { authorization: `Bearer ${forged}` },
      { authorization: `Bearer ${none}` },
    ] as Record<string, string>[]) {
      const r = await get(b!, "/v1/auth/whoami", headers);
      expect(r.status, JSON.stringify(headers).slice(0, 60)).toBe(401);
      expect(JSON.parse(r.text)).toMatchObject({ error: { code: "unauthorized" } });
    }
    const ok = await get(a!, "/v1/auth/whoami", { authorization: `Bearer ${valid}` });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text)).toMatchObject({ kind: "jwt", tier: "premium", role: "user" });
    // The same subject is the same user on the other instance.
    const again = await get(b!, "/v1/auth/whoami", { authorization: `Bearer ${valid}` });
    expect(JSON.parse(again.text).user_id).toBe(JSON.parse(ok.text).user_id);
  });

  it("each key answers as its own user, and only /health and /ping are open", async () => {
    const ada = await services.users.createUser({ email: "ada@multi.example", password: "ada-multi-password" });
    const bob = await services.users.createUser({ email: "bob@multi.example", password: "bob-multi-password" });
    secretsUsed.push("ada-multi-password", "bob-multi-password");
    const adaKey = (await newKey({ name: "ada", userEmail: "ada@multi.example", tier: "premium" })).key;
    const bobKey = (await newKey({ name: "bob", userEmail: "bob@multi.example", tier: "premium" })).key;
    expect(JSON.parse((await get(a!, "/v1/auth/whoami", { "x-api-key": adaKey })).text).user_id).toBe(ada.id);
    expect(JSON.parse((await get(b!, "/v1/auth/whoami", { "x-api-key": bobKey })).text).user_id).toBe(bob.id);
    expect((await get(a!, "/health")).status).toBe(200);
    expect((await get(a!, "/ping")).status).toBe(200);
    expect((await get(a!, "/v1/llm/models")).status).toBe(401);
  });

  // Last: everything both servers logged and answered during the run.
  it("no secret used in the run appears in the servers' logs or the response bodies", async () => {
    await new Promise((r) => setTimeout(r, 200));
    const everything = [...a!.output, ...b!.output, ...bodies].join("\n");
    expect(everything).toContain("Model Service listening");
    for (const secret of secretsUsed) expect(everything.includes(secret), `a secret (${secret.slice(0, 6)}…) leaked`).toBe(false);
  });
});
