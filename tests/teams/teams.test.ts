// Teams through the HTTP host on PGlite and PostgreSQL: the team access policy (owners manage,
// members create and use the team's keys and see its usage, viewers only look, an admin does
// everything, anyone else is told there is no such team), a user in several teams, keys that belong
// to a team, the team's requests per minute shared by its keys (429 with Retry-After and
// X-RateLimit-*), the team as a usage filter and breakdown read from the roll-ups, REST and tRPC
// answering alike. The CLI's `teams` commands and the audit rows they leave: teams-cli.test.ts.
import { describe, expect, it, beforeAll } from "vitest";
import { createModelServiceClient } from "@/client/index.ts";
import { CLI_ACTOR, scopesFor, type AuthenticatedIdentity } from "@/server/access/auth.ts";
import { createApiKey, listApiKeys, revokeApiKey, rotateApiKey } from "@/server/features/accounts/keys.ts";
import { addTeamMember, createTeam, getTeamDetail, listTeams, removeTeamMember, updateTeam } from "@/server/features/accounts/teams.ts";
import { createUser } from "@/server/features/accounts/users.ts";
import { usageStats } from "@/server/features/usage/usage-stats.ts";
import { formatUsd } from "@/server/features/catalogue/pricing.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { NO_RATE_LIMITS, useHost } from "@/tests/support/host.ts";
import { post } from "../budgets/support.ts";

process.env.LOG_LEVEL = "silent";

/** A signed-in dashboard user, as the session cookie resolves to. */
const session = (userId: string, email: string): AuthenticatedIdentity => ({
  kind: "session",
  apiKeyId: null,
  userId,
  email,
  role: "user",
  tier: "standard",
  scopes: scopesFor("user", []),
});

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error("expected a refusal");
}

const hello = (i: string) => ({
  model: "gpt-4o-mini",
  max_tokens: 5,
  messages: [{ role: "user", content: `hi [[emulator words=3 key=${i}]]` }],
});

describe.each(testDatabases())("teams on $kind", ({ kind }) => {
  const host = useHost({ database: kind, env: NO_RATE_LIMITS });
  const suffix = kind.replace(/\W/g, "");
  const people = {} as Record<"owner" | "member" | "viewer" | "outsider", AuthenticatedIdentity & { email: string }>;
  let teamName = "";
  let otherTeam = "";

  beforeAll(async () => {
    for (const who of ["owner", "member", "viewer", "outsider"] as const) {
      const email = `${who}-${suffix}@teams.example.com`;
      const user = await createUser({ email, password: "a-long-password" });
      people[who] = { ...session(user.id, email), email } as never;
    }
    teamName = `search-${suffix}`;
    otherTeam = `ads-${suffix}`;
    await createTeam(CLI_ACTOR, { name: teamName, ownerEmail: people.owner.email, rpmLimit: 1000 });
    await addTeamMember(people.owner, teamName, { email: people.member.email });
    await addTeamMember(people.owner, teamName, { email: people.viewer.email, role: "viewer" });
    // The member is in a second team too, as a viewer there.
    await createTeam(CLI_ACTOR, { name: otherTeam });
    await addTeamMember(CLI_ACTOR, otherTeam, { email: people.member.email, role: "viewer" });
  });

  it("lists each user's own teams with their role and what it allows; an admin sees every team", async () => {
    const mine = await listTeams(people.member);
    expect(mine.map((t) => [t.name, t.role])).toEqual([
      [otherTeam, "viewer"],
      [teamName, "member"],
    ]);
    expect(mine.find((t) => t.name === teamName)!.abilities).toEqual(["view", "use_keys", "manage_keys"]);
    expect((await listTeams(people.viewer)).map((t) => [t.name, t.abilities])).toEqual([[teamName, ["view"]]]);
    expect(await listTeams(people.outsider)).toEqual([]);
    const all = (await listTeams(CLI_ACTOR)).map((t) => t.name);
    expect(all).toEqual(expect.arrayContaining([teamName, otherTeam]));
    const detail = await getTeamDetail(people.viewer, teamName);
    expect(detail.memberList.map((m) => [m.email, m.role])).toEqual([
      [people.owner.email, "owner"],
      [people.member.email, "member"],
      [people.viewer.email, "viewer"],
    ]);
    // Someone outside the team is told there is no such team, not that it exists.
    expect(await refusal(getTeamDetail(people.outsider, teamName))).toMatchObject({ code: "not_found", message: `No team ${teamName}` });
  });

  it("members create and change the team's keys; viewers cannot; outsiders do not see them", async () => {
    const viewerTry = await refusal(createApiKey(people.viewer, { name: "nope", team: teamName }));
    expect(viewerTry).toMatchObject({ code: "forbidden" });
    expect(viewerTry.message).toContain("viewer");
    expect(await refusal(createApiKey(people.outsider, { name: "nope", team: teamName }))).toMatchObject({ code: "not_found" });
    // A member is a viewer in the other team: no keys there either.
    expect(await refusal(createApiKey(people.member, { name: "nope", team: otherTeam }))).toMatchObject({ code: "forbidden" });

    const { apiKey } = await createApiKey(people.member, { name: "team-app", team: teamName });
    expect(apiKey).toMatchObject({ userId: null, teamName, teamId: expect.any(String) });
    expect(await refusal(createApiKey(people.member, { name: "both", team: teamName, userEmail: people.member.email }))).toMatchObject({
      code: "invalid_request",
    });

    // Every member of the team sees its keys beside their own; an outsider does not.
    expect((await listApiKeys(people.viewer)).map((k) => k.id)).toContain(apiKey.id);
    expect((await listApiKeys(people.owner, { team: teamName })).map((k) => k.id)).toEqual([apiKey.id]);
    expect((await listApiKeys(people.outsider)).map((k) => k.id)).not.toContain(apiKey.id);
    expect(await refusal(listApiKeys(people.outsider, { team: teamName }))).toMatchObject({ code: "not_found" });

    expect(await refusal(revokeApiKey(people.viewer, apiKey.id))).toMatchObject({ code: "forbidden" });
    expect(await refusal(revokeApiKey(people.outsider, apiKey.id))).toMatchObject({
      code: "not_found",
      message: `No API key ${apiKey.id}`,
    });
    const rotated = await rotateApiKey(people.owner, apiKey.id);
    expect((await post(host.url, "/v1/llm/generate", rotated.key, hello("rotated"))).status).toBe(200);
    await revokeApiKey(people.member, apiKey.id);
  });

  it("owners manage members and the team's settings; members and viewers cannot; the last owner stays", async () => {
    expect(await refusal(addTeamMember(people.member, teamName, { email: people.outsider.email }))).toMatchObject({ code: "forbidden" });
    expect(await refusal(updateTeam(people.viewer, teamName, { rpmLimit: 5 }))).toMatchObject({ code: "forbidden" });
    expect(await refusal(removeTeamMember(people.owner, teamName, people.owner.email))).toMatchObject({ code: "conflict" });
    expect(await refusal(addTeamMember(people.owner, teamName, { email: people.owner.email, role: "member" }))).toMatchObject({
      code: "conflict",
    });
    expect(await refusal(createTeam(people.owner, { name: "mine" }))).toMatchObject({ code: "forbidden" });
    expect(await refusal(addTeamMember(people.owner, teamName, { email: "nobody@teams.example.com" }))).toMatchObject({
      code: "not_found",
    });
    expect(await refusal(updateTeam(people.owner, teamName, { rpmLimit: 0 }))).toMatchObject({ code: "invalid_request" });
    const updated = await updateTeam(people.owner, teamName, { monthlyBudgetUsd: "25", budgetPeriod: "week" });
    expect(updated).toMatchObject({ monthlyBudgetUsd: "25", budgetPeriod: "week", rpmLimit: 1000 });
  });

  it("answers 409, not 500, when one name is created twice at once", async () => {
    const name = `twice-${suffix}`;
    const results = await Promise.allSettled([
      createTeam(CLI_ACTOR, { name }),
      createTeam(CLI_ACTOR, { name }),
      createTeam(CLI_ACTOR, { name }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results.filter((r) => r.status === "rejected")) {
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: "conflict", message: `A team named ${name} already exists` });
    }
  });

  it("counts every key of the team against the team's requests per minute", async () => {
    const team = `limited-${suffix}`;
    await createTeam(CLI_ACTOR, { name: team, rpmLimit: 3 });
    const k1 = await host.createKey({ name: "limited-1", team });
    const k2 = await host.createKey({ name: "limited-2", team });
    const statuses = [];
    for (const [i, key] of [k1.key, k2.key, k1.key].entries())
      statuses.push((await post(host.url, "/v1/llm/generate", key, hello(`l${i}`))).status);
    expect(statuses).toEqual([200, 200, 200]);
    const res = await fetch(`${host.url}/v1/llm/generate`, {
      method: "POST",
      headers: { authorization: `Bearer ${k2.key}`, "content-type": "application/json" },
      body: JSON.stringify(hello("l4")),
    });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(res.headers.get("x-ratelimit-limit")).toBe("3");
    expect(res.headers.get("x-ratelimit-remaining")).toBe("0");
    const body = (await res.json()) as { error: { message: string; details: Record<string, unknown> } };
    expect(body.error.message).toContain("the limit of this key's team is 3 requests per minute");
    expect(body.error.details).toMatchObject({ limit_name: "team:rpm", limit: 3 });
  });

  it("shows a team's usage to its members (filter and breakdown from the roll-ups), to no one else but admins", async () => {
    const team = `usage-${suffix}`;
    const created = await createTeam(CLI_ACTOR, { name: team, ownerEmail: people.owner.email });
    await addTeamMember(CLI_ACTOR, team, { email: people.viewer.email, role: "viewer" });
    const teamKey = await host.createKey({ name: "usage-team-key", team });
    const ownerKey = await host.createKey({ name: "owner-own", userEmail: people.owner.email });
    for (const i of [1, 2, 3]) expect((await post(host.url, "/v1/llm/generate", teamKey.key, hello(`u${i}`))).status).toBe(200);
    expect((await post(host.url, "/v1/llm/generate", ownerKey.key, hello("own"))).status).toBe(200);
    await host.flush();

    // The viewer reads it through the service, the owner's own key over tRPC and REST: the same numbers.
    const viewed = await usageStats(people.viewer, { teamId: created.id });
    expect(viewed.source).toBe("daily_attr");
    expect(viewed.totals.requests).toBe(3);
    expect(viewed.breakdowns.apiKey.map((r) => r.value)).toEqual([teamKey.apiKey.id]);
    const client = createModelServiceClient(host.url, { apiKey: ownerKey.key });
    const overTrpc = await client.usage.stats.query({ teamId: created.id });
    expect(overTrpc.totals.requests).toBe(3);
    expect(overTrpc.totals.cost).toBe(formatUsd(viewed.totals.cost));
    const rest = await fetch(`${host.url}/v1/llm/usage?team_id=${created.id}`, { headers: { authorization: `Bearer ${ownerKey.key}` } });
    expect(rest.status).toBe(200);
    expect(((await rest.json()) as { total_requests: number }).total_requests).toBe(3);
    // The requests list takes the filter too: the team's three calls, not the owner's own.
    const listed = await fetch(`${host.url}/v1/llm/requests?team_id=${created.id}`, {
      headers: { authorization: `Bearer ${ownerKey.key}` },
    });
    expect(listed.status).toBe(200);
    const items = ((await listed.json()) as { items: { api_key_id: string }[] }).items;
    expect(items.map((i) => i.api_key_id)).toEqual([teamKey.apiKey.id, teamKey.apiKey.id, teamKey.apiKey.id]);
    // Without the filter, a member sees only their own usage (not the team key's).
    expect((await usageStats(people.owner, {})).totals.requests).toBe(1);

    // An outsider (and a member of another team) cannot read it.
    const denied = await refusal(usageStats(people.outsider, { teamId: created.id }));
    expect(denied).toMatchObject({ code: "forbidden", message: expect.stringContaining("team_id") });
    const outsiderKey = await host.createKey({ name: "outsider-own", userEmail: people.outsider.email });
    const restDenied = await fetch(`${host.url}/v1/llm/usage?team_id=${created.id}`, {
      headers: { authorization: `Bearer ${outsiderKey.key}` },
    });
    expect(restDenied.status).toBe(403);
    // A team filter does not combine with a tag filter (both are attribution roll-ups).
    expect(await refusal(usageStats(CLI_ACTOR as never, { teamId: created.id, tag: "x" }))).toMatchObject({ code: "invalid_request" });

    // An admin's unfiltered view breaks usage down by team (the *_dims rows), labelled with the team's name.
    const admin = { ...session(people.owner.userId!, people.owner.email), role: "admin" as const, scopes: scopesFor("admin", []) };
    const everyone = await usageStats(admin, {});
    expect(everyone.source).toBe("daily_dims");
    expect(everyone.breakdowns.team.find((r) => r.value === created.id)).toMatchObject({ label: team, requests: 3 });
    // A filtered view breaks down by team (as by tag and end user) when asked for, from the attribution roll-ups.
    const filtered = await usageStats(admin, { model: "gpt-4o-mini", attribution: true });
    expect(filtered.attributionIncluded).toBe(true);
    expect(filtered.breakdowns.team.find((r) => r.value === created.id)).toMatchObject({ label: team, requests: 3 });
    expect((await usageStats(admin, { model: "gpt-4o-mini" })).attributionIncluded).toBe(false);
  });

  it("REST and tRPC are thin twins of the same service", async () => {
    const ownerKey = await host.createKey({ name: "owner-rest", userEmail: people.owner.email });
    const list = await fetch(`${host.url}/v1/teams`, { headers: { authorization: `Bearer ${ownerKey.key}` } });
    expect(list.status).toBe(200);
    const { teams } = (await list.json()) as { teams: { name: string; role: string }[] };
    expect(teams.find((t) => t.name === teamName)).toMatchObject({ role: "owner" });
    const client = createModelServiceClient(host.url, { apiKey: ownerKey.key });
    expect((await client.teams.list.query()).find((t) => t.name === teamName)).toMatchObject({ role: "owner" });
    const one = await fetch(`${host.url}/v1/teams/${teamName}`, { headers: { authorization: `Bearer ${ownerKey.key}` } });
    expect(((await one.json()) as { member_list: unknown[] }).member_list.length).toBeGreaterThanOrEqual(3);
    // A user key cannot change the team (as it cannot mint keys): 403 over both.
    const patch = await fetch(`${host.url}/v1/teams/${teamName}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${ownerKey.key}`, "content-type": "application/json" },
      body: JSON.stringify({ rpm_limit: 5 }),
    });
    expect(patch.status).toBe(403);
    await expect(client.teams.update.mutate({ team: teamName, change: { rpmLimit: 5 } })).rejects.toMatchObject({
      data: { code: "FORBIDDEN" },
    });
    // An admin key does everything, over REST with snake_case.
    const admin = await host.createKey({ name: "teams-admin", isAdmin: true });
    const created = await fetch(`${host.url}/v1/teams`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin.key}`, "content-type": "application/json" },
      body: JSON.stringify({ name: `rest-${suffix}`, budget_usd: "3.5", budget_period: "day", owner_email: people.viewer.email }),
    });
    expect(created.status).toBe(200);
    expect(await created.json()).toMatchObject({ name: `rest-${suffix}`, budget_usd: "3.5", budget_period: "day", spent_usd: "0" });
    const bad = await fetch(`${host.url}/v1/teams`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin.key}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "Not A Name!" }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain("name");
    const added = await fetch(`${host.url}/v1/teams/rest-${suffix}/members`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin.key}`, "content-type": "application/json" },
      body: JSON.stringify({ email: people.member.email, role: "member" }),
    });
    expect(await added.json()).toMatchObject({ email: people.member.email, role: "member" });
    const removed = await fetch(`${host.url}/v1/teams/rest-${suffix}/members/${encodeURIComponent(people.member.email)}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${admin.key}` },
    });
    expect(await removed.json()).toEqual({ removed: true });
  });
});
