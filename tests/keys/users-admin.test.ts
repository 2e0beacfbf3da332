// tRPC users.* (the admin Users page, #20 item 4): an admin lists, creates and changes accounts;
// anyone else is refused; an admin cannot disable their own account or drop their own admin role;
// a disabled account cannot sign in; every change is audited with the admin as its actor.
import { beforeAll, describe, expect, it } from "vitest";
import { createModelServiceClient } from "@/client/index.ts";
import { createUser } from "@/server/features/accounts/users.ts";
import { verifyCredentials } from "@/server/features/accounts/users.ts";
import { useHost } from "@/tests/support/host.ts";

const host = useHost({});
let adminKey = "";
let userKey = "";
let adminId = "";

beforeAll(async () => {
  adminId = (await createUser({ email: "boss@users.test", password: "boss-password", role: "admin" })).id;
  await createUser({ email: "ivy@users.test", password: "ivy-password" });
  adminKey = (await host.createKey({ name: "boss", isAdmin: true, userEmail: "boss@users.test" })).key;
  userKey = (await host.createKey({ name: "ivy", userEmail: "ivy@users.test" })).key;
}, 120_000);

const code = (e: unknown) => (e as { data?: { code?: string } }).data?.code;

describe("users.*", () => {
  it("refuses a caller who is not an admin", async () => {
    const ivy = createModelServiceClient(host.url, { apiKey: userKey });
    expect(code(await ivy.users.list.query().catch((e: unknown) => e))).toBe("FORBIDDEN");
    expect(code(await ivy.users.create.mutate({ email: "x@users.test", password: "password-123" }).catch((e: unknown) => e))).toBe(
      "FORBIDDEN",
    );
  });

  it("creates a user, changes their role and budget, disables and enables them", async () => {
    const admin = createModelServiceClient(host.url, { apiKey: adminKey });
    const created = await admin.users.create.mutate({ email: "New@Users.test", password: "new-password-1", monthlyBudgetUsd: "12.5" });
    expect(created).toMatchObject({ email: "new@users.test", role: "user", monthlyBudgetUsd: "12.5", disabledAt: null });
    expect((await admin.users.list.query()).map((u) => u.email)).toEqual(expect.arrayContaining(["boss@users.test", "new@users.test"]));
    // Nothing secret in the listing.
    expect(JSON.stringify(await admin.users.list.query())).not.toMatch(/password|hash/i);

    expect((await admin.users.update.mutate({ id: created.id, change: { role: "admin", monthlyBudgetUsd: null } })).role).toBe("admin");
    const disabled = await admin.users.update.mutate({ id: created.id, change: { disabled: true } });
    expect(disabled.disabledAt).not.toBeNull();
    expect(await verifyCredentials("new@users.test", "new-password-1")).toBeNull();
    await admin.users.update.mutate({ id: created.id, change: { disabled: false } });
    expect(await verifyCredentials("new@users.test", "new-password-1")).not.toBeNull();

    const audit = await admin.audit.list.query({ limit: 20 });
    const mine = audit.events.filter((a) => a.target.id === created.id);
    expect(mine.map((a) => a.action)).toEqual(expect.arrayContaining(["user.create", "user.update"]));
    expect(mine.map((a) => a.actor.kind)).toEqual(mine.map(() => "api_key"));
  });

  it("answers 409 for a taken email and 400 naming the field for a short password", async () => {
    const admin = createModelServiceClient(host.url, { apiKey: adminKey });
    expect(code(await admin.users.create.mutate({ email: "ivy@users.test", password: "password-123" }).catch((e: unknown) => e))).toBe(
      "CONFLICT",
    );
    const short = await admin.users.create.mutate({ email: "short@users.test", password: "x" }).catch((e: unknown) => e);
    expect(code(short)).toBe("BAD_REQUEST");
    expect((short as Error).message).toMatch(/password/);
  });

  it("does not let an admin lock themselves out", async () => {
    const admin = createModelServiceClient(host.url, { apiKey: adminKey });
    for (const change of [{ disabled: true }, { role: "user" as const }]) {
      const refused = await admin.users.update.mutate({ id: adminId, change }).catch((e: unknown) => e);
      expect(code(refused)).toBe("FORBIDDEN");
      expect((refused as Error).message).toMatch(/your own/);
    }
  });
});
