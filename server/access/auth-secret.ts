import "server-only";
// The secret that signs and encrypts dashboard sessions: AUTH_SECRET when set, otherwise one
// generated on first start into DATA_DIR/auth-secret (mode 0600) and read from there afterwards.
// Several instances behind one load balancer need the same value: set AUTH_SECRET for them.
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { loadEnv } from "../kernel/env.ts";

const g = globalThis as unknown as { __modelServiceAuthSecret?: string };

export function authSecretFile(): string {
  return path.join(loadEnv().dataDir, "auth-secret");
}

/** The session secret (read or created once per process). */
export function authSecret(): string {
  if (g.__modelServiceAuthSecret) return g.__modelServiceAuthSecret;
  const fromEnv = loadEnv().AUTH_SECRET;
  if (fromEnv) return (g.__modelServiceAuthSecret = fromEnv);
  const file = authSecretFile();
  mkdirSync(path.dirname(file), { recursive: true });
  try {
    // `wx`: only the first process to get here writes; any other reads what it wrote.
    writeFileSync(file, `${randomBytes(32).toString("base64url")}\n`, { flag: "wx", mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  chmodSync(file, 0o600);
  let secret = readFileSync(file, "utf8").trim();
  for (let i = 0; !secret && i < 50; i++) {
    // Another process created the file a moment ago and is still writing it.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    secret = readFileSync(file, "utf8").trim();
  }
  if (!secret) throw new Error(`${file} is empty: delete it (sessions will be signed out) or set AUTH_SECRET`);
  return (g.__modelServiceAuthSecret = secret);
}

/** For tests that switch DATA_DIR or AUTH_SECRET. */
export function resetAuthSecretForTests(): void {
  g.__modelServiceAuthSecret = undefined;
}
