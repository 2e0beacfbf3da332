// The usage page's "load demo data" button (#20 item 3): tRPC system.seedDemo writes demo usage for
// an admin, through the same writer as `npm run cli -- seed-demo`, so that a new installation's
// dashboard can be explored from the browser; anyone else is refused, and a second run adds nothing.
import { TRPCClientError } from "@trpc/client";
import { beforeAll, describe, expect, it } from "vitest";
import { createModelServiceClient } from "@/client/index.ts";
import { createUser } from "@/server/features/accounts/users.ts";
import { useHost } from "@/tests/support/host.ts";

const host = useHost({});
let adminKey = "";
let userKey = "";

beforeAll(async () => {
  await createUser({ email: "root@demo.test", password: "root-password", role: "admin" });
  await createUser({ email: "dora@demo.test", password: "dora-password" });
  adminKey = (await host.createKey({ name: "admin", isAdmin: true, userEmail: "root@demo.test", tier: "premium" })).key;
  userKey = (await host.createKey({ name: "dora", userEmail: "dora@demo.test", tier: "premium" })).key;
}, 120_000);

describe("system.seedDemo", () => {
  it("refuses a caller who is not an admin, and writes nothing", async () => {
    const dora = createModelServiceClient(host.url, { apiKey: userKey });
    const refused = await dora.system.seedDemo.mutate({ days: 2 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TRPCClientError);
    expect((refused as { data?: { code?: string } }).data?.code).toBe("FORBIDDEN");
    const stats = await dora.usage.stats.query({});
    expect(stats.totals.requests).toBe(0);
  });

  it("writes days of demo usage for the admin, which the statistics then show; again, it adds nothing", async () => {
    const admin = createModelServiceClient(host.url, { apiKey: adminKey });
    const first = await admin.system.seedDemo.mutate({ days: 2 });
    expect(first.events).toBeGreaterThan(0);
    expect(first.inserted).toBe(first.events);
    expect(first.keys).toEqual(["demo: web app", "demo: batch jobs", "demo: support bot"]);
    const stats = await admin.usage.stats.query({ start: first.from, end: first.to });
    expect(stats.totals.requests).toBe(first.events);

    // The demo keys were last used at their last demo call (before: "never").
    const keys = (await admin.keys.list.query()).filter((k) => k.name.startsWith("demo: "));
    expect(keys).toHaveLength(3);
    const newest = (await admin.usage.recent.query({ start: first.from, end: first.to, limit: 200 })).items;
    for (const k of keys) {
      expect(k.lastUsedAt).not.toBeNull();
      const own = newest.find((r) => r.apiKey === k.name);
      if (own) expect(new Date(k.lastUsedAt!).getTime()).toBe(new Date(own.createdAt).getTime());
    }

    const again = await admin.system.seedDemo.mutate({ days: 2 });
    expect(again.inserted).toBe(0);
    // Past days already written are not generated again (a repeated click costs one query and today's calls).
    expect(again.events).toBeLessThan(first.events);
    expect((await admin.usage.stats.query({ start: first.from, end: first.to })).totals.requests).toBe(first.events);
  });

  it("answers 400 naming the field for more days than the button offers", async () => {
    const admin = createModelServiceClient(host.url, { apiKey: adminKey });
    const refused = await admin.system.seedDemo.mutate({ days: 1000 }).catch((e: unknown) => e);
    expect((refused as { data?: { code?: string } }).data?.code).toBe("BAD_REQUEST");
    expect((refused as Error).message).toMatch(/days/);
  });
});
