import "server-only";
// Teams on the request path and the one team access policy. A team (features/accounts/teams.ts
// manages them) has members with a role each (owner, member, viewer), keys of its own, a budget and
// a requests-per-minute limit its keys share. What each role may do is TEAM_ABILITIES, below, and
// nowhere else: the team and key services, the usage statistics and the dashboard's pages all ask
// `requireTeamAbility` / `teamAbilities`. An admin (and the CLI) may do everything in every team.
//
// The team of a key and a user's memberships come from in-process caches that the invalidation
// bus keeps honest across instances (a `team` invalidation for a change to a team or its members).
import { getDb } from "../db/index.ts";
import { AppError } from "../kernel/errors.ts";
import { trimDecimal } from "../../lib/money.ts";
import { AuthCache } from "./auth-cache.ts";
import { isAdminActor, type Actor, type BudgetPeriod, type TeamRole } from "./identity.ts";
import { onInvalidation } from "./invalidation.ts";

/** What a role in a team allows. */
export type TeamAbility = "view" | "use_keys" | "manage_keys" | "manage";

/**
 * The team access policy. view: the team, its members, keys and usage; use_keys: create keys of
 * the team and revoke or rotate them; manage: members and their roles, the budget and the limit.
 */
export const TEAM_ABILITIES: Readonly<Record<TeamRole, readonly TeamAbility[]>> = {
  owner: ["view", "use_keys", "manage_keys", "manage"],
  member: ["view", "use_keys", "manage_keys"],
  viewer: ["view"],
};

const ABILITY_REFUSAL: Record<TeamAbility, string> = {
  view: "see this team",
  use_keys: "create keys for this team (viewers cannot; ask an owner to make you a member)",
  manage_keys: "change this team's keys (viewers cannot)",
  manage: "change this team's members, budget or limits (only its owners and admins can)",
};

export type TeamRecord = {
  id: string;
  name: string;
  /** Exact decimal string; null: no budget. */
  monthlyBudgetUsd: string | null;
  budgetPeriod: BudgetPeriod;
  rpmLimit: number | null;
};

export type Membership = { teamId: string; role: TeamRole };

type TeamCaches = { byId: AuthCache<TeamRecord | null>; memberships: AuthCache<Membership[]> };
const g = globalThis as unknown as { __modelServiceTeamCache?: TeamCaches };
const caches: TeamCaches = (g.__modelServiceTeamCache ??= {
  byId: new AuthCache("teams", async (id) => {
    const row = await (
      await getDb()
    ).team.findUnique({
      where: { id },
      select: { id: true, name: true, monthlyBudgetUsd: true, budgetPeriod: true, rpmLimit: true },
    });
    return row ? { ...row, monthlyBudgetUsd: row.monthlyBudgetUsd ? trimDecimal(row.monthlyBudgetUsd.toFixed(6)) : null } : null;
  }),
  memberships: new AuthCache("team-memberships", async (userId) =>
    (await getDb()).teamMember.findMany({ where: { userId }, select: { teamId: true, role: true }, orderBy: { teamId: "asc" } }),
  ),
});
onInvalidation((m) => {
  if (m.kind === "all") {
    caches.byId.clear();
    caches.memberships.clear();
  } else if (m.kind === "team") {
    caches.byId.delete(m.id);
    // Whoever was or is a member of it: the membership lists are small, dropping a few is cheap.
    caches.memberships.clear();
  } else if (m.kind === "user") {
    caches.memberships.delete(m.id);
  }
});

/** A team by id (cached), or null. */
export function getTeam(id: string): Promise<TeamRecord | null> {
  return caches.byId.get(id);
}

/** The teams a user belongs to, with the role in each (cached). */
export function membershipsOf(userId: string): Promise<Membership[]> {
  return caches.memberships.get(userId);
}

/** The caller's role in a team: "admin" for admins and the CLI, null for someone not in it. */
export async function teamRoleOf(actor: Actor, teamId: string): Promise<TeamRole | "admin" | null> {
  if (isAdminActor(actor)) return "admin";
  if (actor.kind === "cli" || !actor.userId) return null;
  return (await membershipsOf(actor.userId)).find((m) => m.teamId === teamId)?.role ?? null;
}

/** What the caller may do in a team (everything for an admin; nothing outside it). */
export function abilitiesOf(role: TeamRole | "admin" | null): TeamAbility[] {
  if (role === "admin") return [...TEAM_ABILITIES.owner];
  return role ? [...TEAM_ABILITIES[role]] : [];
}

/**
 * 404 when the team does not exist or the caller is not in it (so its existence does not leak),
 * 403 naming what their role does not allow. Returns the caller's role.
 */
export async function requireTeamAbility(actor: Actor, teamId: string, ability: TeamAbility): Promise<TeamRole | "admin"> {
  const role = await teamRoleOf(actor, teamId);
  if (!role || !(await getTeam(teamId))) throw new AppError("not_found", `No team ${teamId}`);
  if (!abilitiesOf(role).includes(ability)) {
    throw new AppError("forbidden", `As a ${role} of this team you cannot ${ABILITY_REFUSAL[ability]}`, { team_role: role });
  }
  return role;
}
