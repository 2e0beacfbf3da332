// Tags and end users as roll-up dimensions (#21 item 2): the statistics filter by `tag` and
// `endUser` and break down by both, from the roll-ups only, in exact picodollars; a call with
// several tags counts once under each tag (and once in the totals); the same answers from the
// per-dimension roll-up (everyone, unfiltered), the full roll-up (a caller's own, or any filter),
// and the hourly corrections of a zone off UTC; and every answer matches a raw query over the
// events. Attribution parsing and its limits (attributionOf) too.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resetEnvForTests } from "../../kernel/env.ts";
import { testDatabases } from "../../../tests/support/db.ts";
import { useServiceDatabase } from "../../../tests/support/service-db.ts";
import { authenticate, CLI_ACTOR, type AuthenticatedIdentity } from "../../access/auth.ts";
import { createApiKey } from "../accounts/keys.ts";
import { createUser } from "../accounts/users.ts";
import { resetModelCatalogueForTests, syncCatalogue } from "../catalogue/models.ts";
import { parseUsd } from "../catalogue/pricing.ts";
import { getDatabase } from "../../db/index.ts";
import { recordTestCall } from "../../../tests/support/usage-events.ts";
import { attributionOf, ATTRIBUTION_LIMITS } from "./attribution.ts";
import { usageStats, type BreakdownRow } from "./usage-stats.ts";
import { recentRequests } from "./usage-recent.ts";
import { usageWriter } from "./usage.ts";
import { AppError } from "../../kernel/errors.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-attribution-"));
beforeAll(() => {
  Object.assign(process.env, { DATA_DIR: dataDir, LOG_LEVEL: "silent" });
  delete process.env.REDIS_URL;
  resetEnvForTests();
});
afterAll(async () => {
  resetModelCatalogueForTests();
  await usageWriter().stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("attributionOf", () => {
  const headers = (h: Record<string, string>) => new Headers(h);

  it("reads the headers, dedupes and sorts the tags, and lets each body field win over its header", () => {
    expect(attributionOf(undefined, headers({}))).toEqual({ tags: [], endUser: null, session: null, metadata: null });
    expect(
      attributionOf(
        { endUser: "body" },
        headers({
          "x-model-service-tags": " b, a ,b,,",
          "x-model-service-end-user": "header",
          "x-model-service-session": "s",
          "x-model-service-metadata": '{"k":"v"}',
        }),
      ),
    ).toEqual({ tags: ["a", "b"], endUser: "body", session: "s", metadata: { k: "v" } });
    // An empty body user (OpenAI's SDKs may send "") is none: the header's stands.
    expect(attributionOf({ endUser: "" }, headers({ "x-model-service-end-user": "h" })).endUser).toBe("h");
    expect(
      attributionOf({ tags: ["z"], metadata: { a: 1 } }, headers({ "x-model-service-tags": "y", "x-model-service-metadata": '{"b":2}' })),
    ).toMatchObject({
      tags: ["z"],
      metadata: { a: 1 },
    });
  });

  it("refuses a header beyond a limit with a 400 naming it, even when the body gives that field", () => {
    const refuse = (h: Record<string, string>, message: RegExp) => {
      let err: unknown;
      try {
        attributionOf({ endUser: "body", tags: ["ok"], metadata: { ok: true } }, headers(h));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("invalid_request");
      expect((err as AppError).message).toMatch(message);
    };
    refuse(
      { "x-model-service-tags": Array.from({ length: ATTRIBUTION_LIMITS.tags + 1 }, (_, i) => `t${i}`).join(",") },
      /^x-model-service-tags: at most 10 tags/,
    );
    refuse({ "x-model-service-tags": "a,b c" }, /^x-model-service-tags \(1\): a tag is made of/);
    refuse({ "x-model-service-end-user": "x".repeat(257) }, /^x-model-service-end-user: has at most 256 characters/);
    refuse({ "x-model-service-metadata": "null" }, /^x-model-service-metadata must be a JSON object/);
    refuse({ "x-model-service-metadata": '{"a":[[[]]]}' }, /^x-model-service-metadata: nests at most 3 levels/);
    refuse(
      { "x-model-service-metadata": JSON.stringify({ k: "é".repeat(1100) }) },
      /^x-model-service-metadata: at most 2048 bytes as JSON \(this is 2208\)/,
    );
  });
});

describe.each(testDatabases())("statistics by tag and end user on $kind", ({ kind }) => {
  useServiceDatabase(kind);
  let admin: AuthenticatedIdentity;
  let alice: AuthenticatedIdentity;
  const asKey = async (key: string) => (await authenticate(new Headers({ "x-api-key": key }))) as AuthenticatedIdentity;
  const range = { start: "2026-11-10", end: "2026-11-11" };

  beforeAll(async () => {
    resetModelCatalogueForTests();
    await syncCatalogue({ watch: false });
    const suffix = Math.random().toString(36).slice(2, 8);
    await createUser({ email: `alice-${suffix}@example.com`, password: "alice-password" });
    admin = await asKey((await createApiKey(CLI_ACTOR, { name: "admin", isAdmin: true })).key);
    alice = await asKey((await createApiKey(CLI_ACTOR, { name: "alice", userEmail: `alice-${suffix}@example.com` })).key);
    const other = await asKey((await createApiKey(CLI_ACTOR, { name: "other" })).key);
    const call = (
      identity: AuthenticatedIdentity,
      at: string,
      costUsd: string,
      tags: string[],
      endUser: string | null,
      session: string | null = null,
    ) =>
      recordTestCall({
        identity,
        at: new Date(at),
        costUsd,
        usage: { inputTokens: 1000, outputTokens: 0 },
        attribution: { tags, endUser, session, metadata: null },
      });
    // Alice: two tags on one call (counted under both), one tag, none; two end users.
    call(alice, "2026-11-10T12:00:00Z", "0.000001", ["beta", "search"], "cust-1", "s-1");
    call(alice, "2026-11-10T23:30:00Z", "0.000010", ["search"], "cust-1", "s-1");
    call(alice, "2026-11-11T03:00:00Z", "0.000100", [], "cust-2"); // New York: still Nov 10
    call(alice, "2026-11-11T12:00:00Z", "0.001000", ["beta"], null);
    // Someone else: the same tag and end user names.
    call(other, "2026-11-11T13:00:00Z", "0.010000", ["search"], "cust-1");
    await usageWriter().flush();
  });

  const rows = (b: BreakdownRow[]) => Object.fromEntries(b.map((r) => [r.value, [r.requests, r.cost]]));
  const pico = parseUsd;

  it("everyone's usage (the per-dimension roll-up): by tag once per tag, by end user", async () => {
    const s = await usageStats(admin, range);
    expect(s.source).toBe("daily_dims");
    expect(s.totals.requests).toBe(5);
    expect(s.totals.cost).toBe(pico("0.011111"));
    expect(rows(s.breakdowns.tag)).toEqual({ search: [3, pico("0.010011")], beta: [2, pico("0.001001")] });
    expect(rows(s.breakdowns.endUser)).toEqual({ "cust-1": [3, pico("0.010011")], "cust-2": [1, pico("0.0001")] });
  });

  it("filters by tag or end user (the attribution roll-up), for an admin and for a caller's own; breaks a filtered view down by both", async () => {
    const s = await usageStats(admin, { ...range, tag: "search" });
    expect(s.source).toBe("daily_attr");
    expect([s.totals.requests, s.totals.cost]).toEqual([3, pico("0.010011")]);
    expect(rows(s.breakdowns.model)).toEqual({ "gpt-4o-mini": [3, pico("0.010011")] });
    expect(s.breakdowns.apiKey.map((k) => k.requests).sort()).toEqual([1, 2]);
    // A tag's rows do not carry the other tags or the end user: under a tag filter those breakdowns list that tag alone.
    expect(rows(s.breakdowns.tag)).toEqual({ search: [3, pico("0.010011")] });
    expect(rows(s.breakdowns.endUser)).toEqual({});
    const cust = await usageStats(admin, { ...range, endUser: "cust-1" });
    expect([cust.source, cust.totals.requests, cust.totals.cost]).toEqual(["daily_attr", 3, pico("0.010011")]);
    expect(rows(cust.breakdowns.endUser)).toEqual({ "cust-1": [3, pico("0.010011")] });

    const own = await usageStats(alice, range);
    expect(own.source).toBe("daily");
    expect(rows(own.breakdowns.tag)).toEqual({ search: [2, pico("0.000011")], beta: [2, pico("0.001001")] });
    expect(rows(own.breakdowns.endUser)).toEqual({ "cust-1": [2, pico("0.000011")], "cust-2": [1, pico("0.0001")] });
    const ownTag = await usageStats(alice, { ...range, tag: "search" });
    expect([ownTag.totals.requests, ownTag.totals.cost]).toEqual([2, pico("0.000011")]);
    const ownUser = await usageStats(alice, { ...range, endUser: "cust-1" });
    expect([ownUser.totals.requests, ownUser.totals.cost]).toEqual([2, pico("0.000011")]);
    expect((await usageStats(alice, { ...range, tag: "nope" })).totals.requests).toBe(0);
    await expect(usageStats(alice, { ...range, tag: "search", endUser: "cust-1" })).rejects.toThrow(/one of them at a time/);
  });

  it("in a zone off UTC (the hourly corrections), per local day", async () => {
    const ny = await usageStats(alice, { ...range, tz: "America/New_York", tag: "search" });
    expect(ny.source).toBe("hourly_attr");
    expect(ny.daily.map((d) => [d.date, d.requests, d.cost])).toEqual([
      ["2026-11-10", 2, pico("0.000011")],
      ["2026-11-11", 0, 0n],
    ]);
    const all = await usageStats(admin, { ...range, tz: "America/New_York" });
    expect(all.source).toBe("hourly_dims");
    expect(rows(all.breakdowns.tag)).toEqual({ search: [3, pico("0.010011")], beta: [2, pico("0.001001")] });
    expect(rows(all.breakdowns.endUser)).toEqual({ "cust-1": [3, pico("0.010011")], "cust-2": [1, pico("0.0001")] });
    // A caller's own in New York: the full hourly roll-up, and the attribution one for those breakdowns.
    const own = await usageStats(alice, { ...range, tz: "America/New_York" });
    expect(own.source).toBe("hourly");
    expect(own.daily.map((d) => [d.date, d.requests])).toEqual([
      ["2026-11-10", 3],
      ["2026-11-11", 1],
    ]);
    expect(rows(own.breakdowns.tag)).toEqual({ search: [2, pico("0.000011")], beta: [2, pico("0.001001")] });
    expect(rows(own.breakdowns.endUser)).toEqual({ "cust-1": [2, pico("0.000011")], "cust-2": [1, pico("0.0001")] });
  });

  it("matches a raw query over the events for every tag and end user", async () => {
    const db = await getDatabase();
    const s = await usageStats(admin, range);
    const byTag = await db.rawQuery<{ tag: string; n: number; cost: string }>(
      "SELECT t.tag, count(*)::int AS n, sum(e.total_cost)::text AS cost FROM usage_events e CROSS JOIN LATERAL unnest(e.tags) AS t(tag) GROUP BY t.tag",
    );
    expect(rows(s.breakdowns.tag)).toEqual(Object.fromEntries(byTag.map((r) => [r.tag, [r.n, pico(r.cost)]])));
    const byUser = await db.rawQuery<{ u: string; n: number; cost: string }>(
      "SELECT end_user AS u, count(*)::int AS n, sum(total_cost)::text AS cost FROM usage_events WHERE end_user IS NOT NULL GROUP BY end_user",
    );
    expect(rows(s.breakdowns.endUser)).toEqual(Object.fromEntries(byUser.map((r) => [r.u, [r.n, pico(r.cost)]])));
  });

  it("the recent requests take the same filters, on the events", async () => {
    const page = await recentRequests(alice, { ...range, tag: "beta" });
    expect(page.items.map((i) => i.cost)).toEqual([pico("0.001"), pico("0.000001")]);
    const cust = await recentRequests(admin, { ...range, endUser: "cust-1" });
    expect(cust.items).toHaveLength(3);
  });
});
