// Dashboard accounts: scrypt password hashes, the one-time setup, email sign-in.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { resetEnvForTests } from "../../kernel/env.ts";
import { testDatabases } from "../../../tests/support/db.ts";
import { useServiceDatabase } from "../../../tests/support/service-db.ts";
import { hashPassword, verifyPassword } from "./passwords.ts";
import { publishInvalidation } from "../../access/invalidation.ts";
import { hasDashboardUser, userForSubject } from "../../access/user-lookup.ts";
import { createFirstAdmin, createUser, verifyCredentials } from "./users.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-users-"));
beforeAll(() => {
  Object.assign(process.env, { DATA_DIR: dataDir, LOG_LEVEL: "silent" });
  delete process.env.REDIS_URL;
  resetEnvForTests();
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe("password hashes", () => {
  it("are salted scrypt hashes that verify only the right password", async () => {
    const a = await hashPassword("correct horse");
    const b = await hashPassword("correct horse");
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain("correct horse");
    expect(await verifyPassword("correct horse", a)).toBe(true);
    expect(await verifyPassword("correct horsf", a)).toBe(false);
    expect(await verifyPassword("correct horse", "plain-text")).toBe(false);
    expect(await verifyPassword("correct horse", a.replace(/\$[\w-]{43}$/, "$AAAA"))).toBe(false);
  });

  it("take tens of milliseconds, not microseconds", async () => {
    const started = performance.now();
    await hashPassword("timing");
    expect(performance.now() - started).toBeGreaterThan(10);
  });
});

describe.each(testDatabases())("users on $kind", ({ kind }) => {
  useServiceDatabase(kind);

  it("the setup creates the first account as an admin, once, even when two race", async () => {
    await publishInvalidation({ kind: "all" }); // forget what an earlier database of this file said
    expect(await hasDashboardUser()).toBe(false);
    const results = await Promise.allSettled([
      createFirstAdmin({ email: "first@example.com", password: "first-password" }),
      createFirstAdmin({ email: "second@example.com", password: "second-password" }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(refused.reason).toMatchObject({ code: "conflict" });
    const winner = (results.find((r) => r.status === "fulfilled") as PromiseFulfilledResult<{ role: string }>).value;
    expect(winner.role).toBe("admin");
    expect(await hasDashboardUser()).toBe(true);
    await expect(createFirstAdmin({ email: "third@example.com", password: "third-password" })).rejects.toMatchObject({ code: "conflict" });
  });

  it("signs in by email in any case, refuses wrong passwords and JWT-only users", async () => {
    const user = await createUser({ email: "  Grace@Example.com ", password: "grace-password" });
    expect(user.email).toBe("grace@example.com");
    expect((await verifyCredentials("GRACE@example.com", "grace-password"))?.id).toBe(user.id);
    expect(await verifyCredentials("grace@example.com", "Grace-password")).toBeNull();
    expect(await verifyCredentials("not an email", "grace-password")).toBeNull();
    await userForSubject("svc-without-password");
    expect(await verifyCredentials("svc-without-password", "")).toBeNull();
  });

  it("refuses a bad email, a short password and a taken email, naming the field", async () => {
    await expect(createUser({ email: "nope", password: "long-enough" })).rejects.toMatchObject({
      code: "invalid_request",
      message: /email/,
    });
    await expect(createUser({ email: "short@example.com", password: "short" })).rejects.toMatchObject({
      message: /password.*8 characters/,
    });
    await createUser({ email: "taken@example.com", password: "long-enough" });
    await expect(createUser({ email: "TAKEN@example.com", password: "long-enough" })).rejects.toMatchObject({ code: "conflict" });
  });
});
