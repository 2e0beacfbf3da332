import "server-only";
// Single sign-on with an OpenID Connect provider (next-auth's generic `oidc` provider, configured
// by AUTH_OIDC_*; server/api/dashboard/next-auth.ts). After the provider has vouched for the
// person (the ID token's claims), this decides whether they get in and as whom:
//   - an e-mail address is required, and not one the provider marks unverified; when
//     AUTH_OIDC_ALLOWED_DOMAINS is set, its domain must be one of them;
//   - the user with that e-mail signs in; without one, a user is created on this first sign-in only
//     when AUTH_OIDC_ALLOW_SIGNUP is on (no password: they sign in by single sign-on), else refused;
//     there is no cap on how many;
//   - the groups claim (AUTH_OIDC_GROUPS_CLAIM): a group in AUTH_OIDC_ADMIN_GROUPS makes the user an
//     admin (groups grant the role, never take it away, so a local admin is not locked out), and a
//     group `team:<name>` or `team:<name>:<role>` (AUTH_OIDC_TEAM_PREFIX) puts them in that existing
//     team with that role (member by default). Memberships are set at every sign-in; ones the groups
//     no longer name are left as they are (an owner removes them).
// Every change (user created, role, membership) writes its audit row, as the user signing in; the
// sign-in itself writes `login.success` with `method: "oidc"`.
import { getDb } from "../../db/index.ts";
import { writeAudit, type AuditActorLike } from "../../db/audit.ts";
import { loadEnv } from "../../kernel/env.ts";
import { getLogger } from "../../kernel/logger.ts";
import { TEAM_ROLES, type TeamRole } from "../../access/identity.ts";
import { publishInvalidation } from "../../access/invalidation.ts";
import { noteDashboardUser } from "../../access/user-lookup.ts";
import { emailSchema } from "./users.ts";

export type OidcSignIn = { ok: true; userId: string; email: string; name: string | null } | { ok: false; reason: string };

/** Whether single sign-on is configured (the sign-in page shows its button). */
export function oidcConfigured(): boolean {
  const env = loadEnv();
  return Boolean(env.AUTH_OIDC_ISSUER && env.AUTH_OIDC_CLIENT_ID && env.AUTH_OIDC_CLIENT_SECRET);
}

function groupsOf(claims: Record<string, unknown>, claim: string): string[] {
  const value = claims[claim];
  if (typeof value === "string") return value.split(/[\s,]+/).filter(Boolean);
  return Array.isArray(value)
    ? value.filter((g): g is string => typeof g === "string" && g.length > 0 && g.length <= 300).slice(0, 500)
    : [];
}

/** The teams (by name) and roles the groups name: `team:search`, `team:search:owner`. The highest role wins when a team is named twice. */
export function teamsFromGroups(groups: readonly string[], prefix: string): Map<string, TeamRole> {
  const out = new Map<string, TeamRole>();
  for (const g of groups) {
    if (!prefix || !g.startsWith(prefix)) continue;
    const [name, role] = g.slice(prefix.length).split(":") as [string, string | undefined];
    const team = name.trim().toLowerCase();
    if (!team) continue;
    const r: TeamRole = role && (TEAM_ROLES as readonly string[]).includes(role) ? (role as TeamRole) : "member";
    const had = out.get(team);
    if (!had || TEAM_ROLES.indexOf(r) < TEAM_ROLES.indexOf(had)) out.set(team, r);
  }
  return out;
}

/** Decides a single sign-on (see the top of this file) from the provider's verified claims. */
export async function signInWithOidc(claims: Record<string, unknown>): Promise<OidcSignIn> {
  const env = loadEnv();
  const log = getLogger();
  const parsed = emailSchema.safeParse(claims.email);
  if (!parsed.success) return { ok: false, reason: "the provider sent no e-mail address" };
  const email = parsed.data;
  if (claims.email_verified === false) return { ok: false, reason: "the provider has not verified the e-mail address" };
  const domain = email.slice(email.lastIndexOf("@") + 1);
  const allowed = env.AUTH_OIDC_ALLOWED_DOMAINS.map((d) => d.toLowerCase().replace(/^@/, ""));
  if (allowed.length && !allowed.includes(domain)) return { ok: false, reason: `the domain ${domain} may not sign in here` };
  const name = typeof claims.name === "string" ? claims.name.slice(0, 200) : null;

  const db = await getDb();
  const groups = groupsOf(claims, env.AUTH_OIDC_GROUPS_CLAIM);
  const admin = groups.some((g) => env.AUTH_OIDC_ADMIN_GROUPS.includes(g));
  const wanted = teamsFromGroups(groups, env.AUTH_OIDC_TEAM_PREFIX);
  const changedTeams = new Set<string>();
  let created = false;
  const result = await db.$transaction(async (tx) => {
    let user = await tx.user.findUnique({ where: { email }, select: { id: true, role: true, disabledAt: true, name: true } });
    if (!user) {
      if (!env.AUTH_OIDC_ALLOW_SIGNUP)
        return { ok: false as const, reason: `no account for ${email} here, and sign-up by single sign-on is off` };
      user = await tx.user.create({
        data: { email, name, role: admin ? "admin" : "user" },
        select: { id: true, role: true, disabledAt: true, name: true },
      });
      created = true;
      await writeAudit(tx, {
        actor: self(user.id, email),
        action: "user.create",
        target: { kind: "user", id: user.id },
        after: { id: user.id, email, name, role: user.role, via: "oidc" },
      });
    }
    if (user.disabledAt) return { ok: false as const, reason: "this account is disabled" };
    const actor = self(user.id, email);
    if (admin && user.role !== "admin") {
      await tx.user.update({ where: { id: user.id }, data: { role: "admin" } });
      await writeAudit(tx, {
        actor,
        action: "user.role_change",
        target: { kind: "user", id: user.id },
        before: { role: user.role },
        after: { role: "admin", via: "oidc groups" },
      });
    }
    if (wanted.size) {
      const teams = await tx.team.findMany({ where: { name: { in: [...wanted.keys()] } }, select: { id: true, name: true } });
      for (const missing of [...wanted.keys()].filter((n) => !teams.some((t) => t.name === n))) {
        log.info({ team: missing }, "a single sign-on group names a team that does not exist; create it to map the group");
      }
      for (const team of teams) {
        const role = wanted.get(team.name)!;
        const existing = await tx.teamMember.findUnique({ where: { teamId_userId: { teamId: team.id, userId: user.id } } });
        if (existing?.role === role) continue;
        await tx.teamMember.upsert({
          where: { teamId_userId: { teamId: team.id, userId: user.id } },
          create: { teamId: team.id, userId: user.id, role },
          update: { role },
        });
        await writeAudit(tx, {
          actor,
          action: existing ? "team.member_update" : "team.member_add",
          target: { kind: "team", id: team.id },
          ...(existing ? { before: { userId: user.id, email, role: existing.role } } : {}),
          after: { userId: user.id, email, role, via: "oidc groups" },
        });
        changedTeams.add(team.id);
      }
    }
    await writeAudit(tx, { actor, action: "login.success", target: { kind: "user", id: user.id }, after: { method: "oidc" } });
    return { ok: true as const, userId: user.id, email, name: user.name ?? name };
  });
  if (!result.ok) {
    log.info({ event: "sso_refused", reason: result.reason }, "single sign-on refused");
    return result;
  }
  if (created) noteDashboardUser();
  await publishInvalidation({ kind: "user", id: result.userId });
  for (const id of changedTeams) await publishInvalidation({ kind: "team", id });
  return result;
}

const self = (userId: string, email: string): AuditActorLike => ({ kind: "session", userId, apiKeyId: null, email });
