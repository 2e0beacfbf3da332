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
import { recentRequests, sessionView } from "./usage-recent.ts";
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
  let other: AuthenticatedIdentity;
  const asKey = async (key: string) => (await authenticate(new Headers({ "x-api-key": key }))) as AuthenticatedIdentity;
  const range = { start: "2026-11-10", end: "2026-11-11" };

  beforeAll(async () => {
    resetModelCatalogueForTests();
    await syncCatalogue({ watch: false });
    const suffix = Math.random().toString(36).slice(2, 8);
    await createUser({ email: `alice-${suffix}@example.com`, password: "alice-password" });
    admin = await asKey((await createApiKey(CLI_ACTOR, { name: "admin", isAdmin: true })).key);
    alice = await asKey((await createApiKey(CLI_ACTOR, { name: "alice", userEmail: `alice-${suffix}@example.com` })).key);
    other = await asKey((await createApiKey(CLI_ACTOR, { name: "other" })).key);
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
    // Another model, an error and a stream of Alice's, so that every breakdown has more than one row.
    recordTestCall({
      identity: alice,
      at: new Date("2026-11-11T04:30:00Z"),
      costUsd: "0.000000000007",
      modelId: "gpt-4o",
      provider: "openai",
      endpoint: "/v1/chat/completions",
      status: "error",
      stream: true,
      latencyMs: 900,
      usage: { inputTokens: 7, outputTokens: 3 },
      attribution: { tags: ["beta", "eval"], endUser: "cust-2", session: null, metadata: null },
    });
    await usageWriter().flush();
  });

  const rows = (b: BreakdownRow[]) => Object.fromEntries(b.map((r) => [r.value, [r.requests, r.cost]]));
  const pico = parseUsd;

  it("everyone's usage (the per-dimension roll-up): by tag once per tag, by end user", async () => {
    const s = await usageStats(admin, range);
    expect(s.source).toBe("daily_dims");
    expect(s.totals.requests).toBe(6);
    expect(s.totals.cost).toBe(pico("0.011111000007"));
    expect(rows(s.breakdowns.tag)).toEqual({
      search: [3, pico("0.010011")],
      beta: [3, pico("0.001001000007")],
      eval: [1, pico("0.000000000007")],
    });
    expect(rows(s.breakdowns.endUser)).toEqual({ "cust-1": [3, pico("0.010011")], "cust-2": [2, pico("0.000100000007")] });
  });

  it("filters by tag or end user (the scoped roll-up alone, the attribution one with others), for an admin and for a caller's own", async () => {
    const s = await usageStats(admin, { ...range, tag: "search" });
    expect(s.source).toBe("daily_scoped");
    expect([s.totals.requests, s.totals.cost]).toEqual([3, pico("0.010011")]);
    expect(rows(s.breakdowns.model)).toEqual({ "gpt-4o-mini": [3, pico("0.010011")] });
    expect(s.breakdowns.apiKey.map((k) => k.requests).sort()).toEqual([1, 2]);
    // The tag's scope has the other tags of its calls and their end users.
    expect(rows(s.breakdowns.tag)).toEqual({ search: [3, pico("0.010011")], beta: [1, pico("0.000001")] });
    expect(rows(s.breakdowns.endUser)).toEqual({ "cust-1": [3, pico("0.010011")] });
    const cust = await usageStats(admin, { ...range, endUser: "cust-1" });
    expect([cust.source, cust.totals.requests, cust.totals.cost]).toEqual(["daily_scoped", 3, pico("0.010011")]);
    expect(rows(cust.breakdowns.endUser)).toEqual({ "cust-1": [3, pico("0.010011")] });
    expect(rows(cust.breakdowns.tag)).toEqual({ search: [3, pico("0.010011")], beta: [1, pico("0.000001")] });

    const own = await usageStats(alice, range);
    expect([own.source, own.attributionIncluded]).toEqual(["daily_scoped", true]);
    expect(rows(own.breakdowns.tag)).toEqual({
      search: [2, pico("0.000011")],
      beta: [3, pico("0.001001000007")],
      eval: [1, pico("0.000000000007")],
    });
    expect(rows(own.breakdowns.endUser)).toEqual({ "cust-1": [2, pico("0.000011")], "cust-2": [2, pico("0.000100000007")] });
    // A tag with another filter (here the caller's own): the attribution roll-up, which lists that tag alone.
    const ownTag = await usageStats(alice, { ...range, tag: "search" });
    expect(ownTag.source).toBe("daily_attr");
    expect([ownTag.totals.requests, ownTag.totals.cost]).toEqual([2, pico("0.000011")]);
    expect(rows(ownTag.breakdowns.tag)).toEqual({ search: [2, pico("0.000011")] });
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
    // 2026-11-11T04:30Z (beta, eval; cust-2) is still Nov 10 in New York: in the range.
    expect(rows(all.breakdowns.tag)).toEqual({
      search: [3, pico("0.010011")],
      beta: [3, pico("0.001001000007")],
      eval: [1, pico("0.000000000007")],
    });
    expect(rows(all.breakdowns.endUser)).toEqual({ "cust-1": [3, pico("0.010011")], "cust-2": [2, pico("0.000100000007")] });
    // A caller's own in New York: the scoped hourly roll-up.
    const own = await usageStats(alice, { ...range, tz: "America/New_York" });
    expect(own.source).toBe("hourly_scoped");
    expect(own.daily.map((d) => [d.date, d.requests])).toEqual([
      ["2026-11-10", 4],
      ["2026-11-11", 1],
    ]);
    expect(rows(own.breakdowns.tag)).toEqual({
      search: [2, pico("0.000011")],
      beta: [3, pico("0.001001000007")],
      eval: [1, pico("0.000000000007")],
    });
    expect(rows(own.breakdowns.endUser)).toEqual({ "cust-1": [2, pico("0.000011")], "cust-2": [2, pico("0.000100000007")] });
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

  // Every view, from whichever roll-up answers it, against the same sums straight from the events:
  // per local day, and per value of every breakdown (the events' "none" is the roll-ups' "").
  it.each(["UTC", "America/New_York"])("every source's numbers equal the events' sums exactly (%s)", async (tz) => {
    const db = await getDatabase();
    type Raw = { key: string; n: number; errors: number; input: string; cost: string };
    const DIMS: Record<string, string> = {
      model: "e.model_id",
      provider: "e.provider",
      apiKey: "coalesce(e.api_key_id, '')",
      user: "coalesce(e.user_id, '')",
      endpoint: "e.endpoint",
      status: "e.status",
      deployment: "e.deployment",
      endUser: "e.end_user",
      tag: "t.tag",
      day: `(e.created_at AT TIME ZONE '${tz}')::date::text`,
    };
    const raw = async (where: string, params: unknown[]) => {
      const out: Record<string, Record<string, [number, number, number, bigint]>> = {};
      for (const [dim, expr] of Object.entries(DIMS)) {
        const from = dim === "tag" ? "usage_events e CROSS JOIN LATERAL unnest(e.tags) AS t(tag)" : "usage_events e";
        const got = await db.rawQuery<Raw>(
          `SELECT ${expr} AS key, count(*)::int AS n, (count(*) FILTER (WHERE e.status = 'error'))::int AS errors,
             sum(e.input_tokens)::text AS input, sum(e.total_cost)::text AS cost
           FROM ${from}
           WHERE (e.created_at AT TIME ZONE '${tz}')::date BETWEEN '${range.start}' AND '${range.end}' AND ${expr} IS NOT NULL AND ${where}
           GROUP BY 1`,
          params,
        );
        out[dim] = Object.fromEntries(got.map((r) => [r.key, [r.n, r.errors, Number(r.input), pico(r.cost)]]));
      }
      return out;
    };
    const shown = (b: BreakdownRow[]) =>
      Object.fromEntries(b.map((r) => [r.value, [r.requests, r.errors, r.inputTokens, r.cost] as [number, number, number, bigint]]));
    const views: [string, AuthenticatedIdentity, Record<string, unknown>, string, string, unknown[]][] = [
      ["everyone", admin, {}, tz === "UTC" ? "daily_dims" : "hourly_dims", "true", []],
      ["a user's own", alice, {}, "scoped", "e.user_id = $1", [alice.userId]],
      ["a key without a user, its own", other, {}, "scoped", "e.api_key_id = $1", [other.apiKeyId]],
      // A key with a user has no scope of its own (its calls are in its user's): the full roll-ups.
      [
        "an admin's filter on a key with a user",
        admin,
        { apiKeyId: alice.apiKeyId, attribution: true },
        "",
        "e.api_key_id = $1",
        [alice.apiKeyId],
      ],
      ["an admin's filter on a key without a user", admin, { apiKeyId: other.apiKeyId }, "scoped", "e.api_key_id = $1", [other.apiKeyId]],
      ["an admin's user filter", admin, { userId: alice.userId }, "scoped", "e.user_id = $1", [alice.userId]],
      ["one tag", admin, { tag: "beta" }, "scoped", "'beta' = ANY(e.tags)", []],
      ["one end user", admin, { endUser: "cust-2" }, "scoped", "e.end_user = 'cust-2'", []],
      ["one model, attribution asked", admin, { model: "gpt-4o-mini", attribution: true }, "", "e.model_id = 'gpt-4o-mini'", []],
      [
        "a user's own model, attribution asked",
        alice,
        { model: "gpt-4o", attribution: true },
        "",
        "e.model_id = 'gpt-4o' AND e.user_id = $1",
        [alice.userId],
      ],
    ];
    for (const [name, who, filters, source, where, params] of views) {
      const s = await usageStats(who, { ...range, tz, ...filters });
      const want = await raw(where, params);
      if (source) expect(s.source, name).toMatch(source);
      else expect(s.source, name).toBe(tz === "UTC" ? "daily" : "hourly");
      expect(s.attributionIncluded, name).toBe(true);
      const days = Object.fromEntries(
        s.daily.filter((d) => d.requests).map((d) => [d.date, [d.requests, d.errors, d.inputTokens, d.cost] as const]),
      );
      expect(days, name).toEqual(want.day);
      for (const dim of ["model", "provider", "apiKey", "user", "endpoint", "status", "deployment", "endUser", "tag"] as const) {
        expect(shown(s.breakdowns[dim]), `${name}: ${dim}`).toEqual(want[dim]);
      }
      // The per-day model series sums to the model breakdown.
      const byModel: Record<string, number> = {};
      for (const d of s.dailyByModel) byModel[d.model] = (byModel[d.model] ?? 0) + d.requests;
      expect(byModel, name).toEqual(Object.fromEntries(Object.entries(want.model!).map(([m, v]) => [m, v[0]])));
    }
  });

  it("breaks a view under other filters down by tag and end user only when asked", async () => {
    const plain = await usageStats(admin, { ...range, model: "gpt-4o-mini" });
    expect([plain.source, plain.attributionIncluded, plain.breakdowns.tag, plain.breakdowns.endUser]).toEqual(["daily", false, [], []]);
    expect(plain.totals.requests).toBe(5);
    const asked = await usageStats(admin, { ...range, model: "gpt-4o-mini", attribution: true });
    expect(asked.attributionIncluded).toBe(true);
    expect(rows(asked.breakdowns.tag)).toEqual({ search: [3, pico("0.010011")], beta: [2, pico("0.001001")] });
    // Everything else is the same either way.
    expect({ ...asked, attributionIncluded: false, breakdowns: { ...asked.breakdowns, tag: [], endUser: [] } }).toEqual(plain);
  });

  it("the recent requests take the same filters, on the events", async () => {
    const page = await recentRequests(alice, { ...range, tag: "beta" });
    expect(page.items.map((i) => i.cost)).toEqual([pico("0.001"), pico("0.000000000007"), pico("0.000001")]);
    const cust = await recentRequests(admin, { ...range, endUser: "cust-1" });
    expect(cust.items).toHaveLength(3);
    // A session's calls in order with their total; another's session of the same name is not Alice's.
    const s1 = await sessionView(alice, "s-1");
    expect([s1.calls, s1.cost, s1.items.map((i) => i.cost)]).toEqual([2, pico("0.000011"), [pico("0.000001"), pico("0.00001")]]);
    expect((await sessionView(admin, "s-1")).calls).toBe(2);
    expect((await sessionView(other, "s-1")).calls).toBe(0);
    // The list takes a tag and an end user together (the statistics take one of them).
    const both = await recentRequests(admin, { ...range, tag: "beta", endUser: "cust-2" });
    expect(both.items.map((i) => i.cost)).toEqual([pico("0.000000000007")]);
  });
});
