// Sign-in limits per client address and per account: a guesser locks themselves out, never the
// owner signing in from a client that has not failed; guesses spread over many emails from one
// address are limited; successes are not counted. In process, and in Redis with TEST_REDIS_URL.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resetEnvForTests } from "../../kernel/env.ts";
import { testDatabases } from "../../../tests/support/db.ts";
import { useServiceDatabase } from "../../../tests/support/service-db.ts";
import { signInWithPassword } from "./login-limits.ts";
import { resetRateLimitersForTests } from "../../access/rate-limits.ts";
import { createUser } from "./users.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-login-limits-"));
process.env.LOG_LEVEL = "silent";
process.env.DATA_DIR = dataDir;
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function configure(env: Record<string, string | undefined>) {
  for (const k of ["RATE_LIMITS", "REDIS_URL", "REDIS_KEY_PREFIX", "TRUST_PROXY"]) delete process.env[k];
  Object.assign(process.env, env);
  resetEnvForTests();
  resetRateLimitersForTests();
  // server/kernel/redis.ts remembers "no Redis" for the process; these cases switch REDIS_URL.
  const g = globalThis as { __modelServiceRedis?: { disconnect(): void } | null };
  g.__modelServiceRedis?.disconnect();
  g.__modelServiceRedis = undefined;
}

const PASSWORD = "the-right-password-1";
/** A fresh address in a documentation range, so blocks and cases never share a counter. */
let nextHost = 1;
const address = () => `198.51.100.${nextHost++}`;

const redisUrl = process.env.TEST_REDIS_URL;
const stores: { name: string; env: () => Record<string, string | undefined> }[] = [
  { name: "in process", env: () => ({}) },
  ...(redisUrl
    ? [{ name: "in Redis", env: () => ({ REDIS_URL: redisUrl, REDIS_KEY_PREFIX: `mstest:${randomBytes(4).toString("hex")}:` }) }]
    : []),
];

describe.each(testDatabases())("sign-in limits on $kind", ({ kind }) => {
  useServiceDatabase(kind);

  describe.each(stores)("$name", (store) => {
    const tag = `${kind}-${store.name.replace(/\W/g, "")}`;
    let n = 0;
    const account = async () => (await createUser({ email: `u${++n}-${tag}@example.com`, password: PASSWORD })).email!;
    beforeAll(() => configure(store.env()));
    afterAll(() => configure({}));

    it("ten wrong passwords lock the account for the guesser, not for the owner on a client that has not failed", async () => {
      const email = await account();
      const guesser = address();
      for (let i = 0; i < 10; i++) expect(await signInWithPassword(email, `wrong-${i}`, guesser)).toBeNull();
      // The guesser is locked out of this account even with the right password...
      expect(await signInWithPassword(email, PASSWORD, guesser)).toBeNull();
      // ...the owner, elsewhere, is not.
      const owner = address();
      expect(await signInWithPassword(email, PASSWORD, owner)).toMatchObject({ email });
      expect(await signInWithPassword(email, PASSWORD, owner)).toMatchObject({ email });
      // A fresh client gets one try at a locked account; once it has failed, it is locked out too.
      const another = address();
      expect(await signInWithPassword(email, "one more guess", another)).toBeNull();
      expect(await signInWithPassword(email, PASSWORD, another)).toBeNull();
      // Other accounts are not affected for a client that has not failed.
      const other = await account();
      expect(await signInWithPassword(other, PASSWORD, address())).toMatchObject({ email: other });
    });

    it("limits guesses spread over many emails from one client address", async () => {
      const guesser = address();
      for (let i = 0; i < 20; i++) expect(await signInWithPassword(`nobody-${i}-${tag}@example.com`, "guess", guesser)).toBeNull();
      // Past 20 failures, this client may not even use a right password (of an account it never tried).
      const email = await account();
      expect(await signInWithPassword(email, PASSWORD, guesser)).toBeNull();
      expect(await signInWithPassword(email, PASSWORD, address())).toMatchObject({ email });
    });

    it("counts only failures: many successful sign-ins from one client are never limited", async () => {
      const email = await account();
      const client = address();
      for (let i = 0; i < 25; i++) expect(await signInWithPassword(email, PASSWORD, client), `sign-in ${i}`).toMatchObject({ email });
      // And a few typos among them do not lock anyone out.
      for (let i = 0; i < 3; i++) expect(await signInWithPassword(email, "typo", client)).toBeNull();
      expect(await signInWithPassword(email, PASSWORD, client)).toMatchObject({ email });
    });

    it("a burst of concurrent guesses from a fresh client at a locked account gets one try, not many", async () => {
      const email = await account();
      const guesser = address();
      for (let i = 0; i < 10; i++) await signInWithPassword(email, `wrong-${i}`, guesser);
      const burst = address();
      // One wrong guess and seven right passwords at once: had the lock been checked before counting, all eight would be tried.
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => signInWithPassword(email, i === 0 ? "burst guess" : PASSWORD, burst)),
      );
      expect(results.filter((r) => r !== null).length).toBeLessThanOrEqual(1);
      expect(await signInWithPassword(email, PASSWORD, burst)).toBeNull();
    });

    it("without a known client address, the account's lock stops every attempt", async () => {
      const email = await account();
      for (let i = 0; i < 10; i++) await signInWithPassword(email, `wrong-${i}`, null);
      expect(await signInWithPassword(email, PASSWORD, null)).toBeNull();
      // An address that is known is still a client that has not failed.
      expect(await signInWithPassword(email, PASSWORD, address())).toMatchObject({ email });
    });
  });
});
