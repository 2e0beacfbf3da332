// Single sign-on's decisions (sso.ts) on PGlite and PostgreSQL, from the claims an OpenID Connect
// provider vouched for: who gets in (e-mail required and verified, allowed domains, sign-up on or
// off, disabled accounts), as whom (admin from a group, never demoted by one), and in which teams
// (team:<name>[:<role>] groups, existing teams only), with one audit row per change. The browser
// flow against a real provider is e2e/sso.spec.ts.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { resetEnvForTests } from "../../kernel/env.ts";
import { CLI_ACTOR } from "../../access/identity.ts";
import { getDb } from "../../db/index.ts";
import { testDatabases } from "../../../tests/support/db.ts";
import { useServiceDatabase } from "../../../tests/support/service-db.ts";
import { signInWithOidc, teamsFromGroups } from "./sso.ts";
import { createTeam, getTeamDetail } from "./teams.ts";
import { createUser, updateUser } from "./users.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-sso-"));
const SSO_ENV = {
  AUTH_OIDC_ALLOWED_DOMAINS: "corp.example.com, Labs.Example.com",
  AUTH_OIDC_ADMIN_GROUPS: "ms-admins",
  AUTH_OIDC_ALLOW_SIGNUP: "1",
};
const configure = (env: Record<string, string>) => {
  Object.assign(process.env, { DATA_DIR: dataDir, LOG_LEVEL: "silent", ...SSO_ENV, ...env });
  resetEnvForTests();
};
beforeAll(() => configure({}));
afterAll(() => {
  for (const k of Object.keys(SSO_ENV)) delete process.env[k];
  resetEnvForTests();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("groups to teams", () => {
  it("reads team:<name> and team:<name>:<role>, the highest role winning, other groups ignored", () => {
    expect([...teamsFromGroups(["team:Search", "team:ads:viewer", "team:ads:owner", "team:x:boss", "admins", "team:"], "team:")]).toEqual([
      ["search", "member"],
      ["ads", "owner"],
      ["x", "member"],
    ]);
  });
});

describe.each(testDatabases())("single sign-on on $kind", ({ kind }) => {
  useServiceDatabase(kind);
  const suffix = kind.replace(/\W/g, "");
  beforeEach(() => configure({}));

  const auditOf = async (userId: string) =>
    (
      await (
        await getDb()
      ).auditEvent.findMany({ where: { actorId: userId }, orderBy: { id: "asc" }, select: { action: true, after: true } })
    ).map((r) => r.action);

  it("creates the user on the first sign-in, an admin from a group, in the teams its groups name", async () => {
    await createTeam(CLI_ACTOR, { name: `search-${suffix}` });
    const email = `ada-${suffix}@corp.example.com`;
    const first = await signInWithOidc({
      sub: "idp|ada",
      email,
      email_verified: true,
      name: "Ada",
      groups: [`team:search-${suffix}:owner`, `team:missing-${suffix}`, "ms-admins"],
    });
    expect(first).toMatchObject({ ok: true, email, name: "Ada" });
    if (!first.ok) throw new Error("refused");
    const user = await (await getDb()).user.findUniqueOrThrow({ where: { id: first.userId } });
    expect(user).toMatchObject({ role: "admin", passwordHash: null, name: "Ada" });
    const team = await getTeamDetail(CLI_ACTOR, `search-${suffix}`);
    expect(team.memberList.map((m) => [m.email, m.role])).toEqual([[email, "owner"]]);
    expect(await auditOf(first.userId)).toEqual(["user.create", "team.member_add", "login.success"]);

    // Again, the same groups: the same user, nothing changed but the sign-in.
    const again = await signInWithOidc({ sub: "idp|ada", email: email.toUpperCase(), groups: [`team:search-${suffix}:owner`] });
    expect(again).toMatchObject({ ok: true, userId: first.userId });
    expect(await auditOf(first.userId)).toEqual(["user.create", "team.member_add", "login.success", "login.success"]);
    // The groups change the role in a team; leaving the admin group does not demote (groups grant, never take away).
    await signInWithOidc({ sub: "idp|ada", email, groups: [`team:search-${suffix}:viewer`] });
    expect((await getTeamDetail(CLI_ACTOR, `search-${suffix}`)).memberList[0]!.role).toBe("viewer");
    expect((await (await getDb()).user.findUniqueOrThrow({ where: { id: first.userId } })).role).toBe("admin");
    expect((await auditOf(first.userId)).at(-2)).toBe("team.member_update");
  });

  it("signs in an existing account by its e-mail, and makes it an admin only through the group", async () => {
    const existing = await createUser({ email: `grace-${suffix}@labs.example.com`, password: "a-long-password" });
    configure({ AUTH_OIDC_ALLOW_SIGNUP: "0" });
    const r = await signInWithOidc({ sub: "idp|grace", email: existing.email, groups: "ms-admins other" });
    expect(r).toMatchObject({ ok: true, userId: existing.id });
    expect(await auditOf(existing.id)).toEqual(["user.role_change", "login.success"]);
  });

  it("refuses without an e-mail, an unverified one, another domain, sign-up off, or a disabled account", async () => {
    expect(await signInWithOidc({ sub: "x" })).toEqual({ ok: false, reason: "the provider sent no e-mail address" });
    expect(await signInWithOidc({ sub: "x", email: `u-${suffix}@corp.example.com`, email_verified: false })).toMatchObject({
      ok: false,
      reason: "the provider has not verified the e-mail address",
    });
    expect(await signInWithOidc({ sub: "x", email: `u-${suffix}@evil.example.com` })).toEqual({
      ok: false,
      reason: "the domain evil.example.com may not sign in here",
    });
    configure({ AUTH_OIDC_ALLOW_SIGNUP: "0" });
    expect(await signInWithOidc({ sub: "x", email: `new-${suffix}@corp.example.com` })).toMatchObject({ ok: false });
    expect(await (await getDb()).user.findUnique({ where: { email: `new-${suffix}@corp.example.com` } })).toBeNull();
    configure({});
    const disabled = await createUser({ email: `off-${suffix}@corp.example.com`, password: "a-long-password" });
    await updateUser(disabled.id, { disabled: true });
    expect(await signInWithOidc({ sub: "x", email: disabled.email })).toEqual({ ok: false, reason: "this account is disabled" });
    // Any domain when none is listed.
    configure({ AUTH_OIDC_ALLOWED_DOMAINS: "" });
    expect(await signInWithOidc({ sub: "y", email: `any-${suffix}@anywhere.example` })).toMatchObject({ ok: true });
  });
});
