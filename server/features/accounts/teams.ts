import "server-only";
// Teams, managed: create, list, change (budget, period, requests per minute), and their members
// (add with a role, change a role, remove) for the CLI, the `teams` tRPC router, the REST routes
// and the dashboard's teams pages. Who may do what is the team access policy of
// server/access/teams.ts (`requireTeamAbility`): admins and the CLI create teams and do anything;
// a team's owners manage it; members and viewers see it. Every change writes its audit row in its
// own transaction and publishes a `team` invalidation, so every instance's caches (the team's
// budget and limit, memberships) see it within milliseconds. A team's keys are keys.ts's.
import { z } from "zod";
import { safeString } from "../../kernel/validation.ts";
import { getDb } from "../../db/index.ts";
import { writeAudit } from "../../db/audit.ts";
import { AppError } from "../../kernel/errors.ts";
import { BUDGET_PERIODS, isAdminActor, TEAM_ROLES, type Actor, type BudgetPeriod, type TeamRole } from "../../access/identity.ts";
import { publishInvalidation } from "../../access/invalidation.ts";
import { abilitiesOf, membershipsOf, requireTeamAbility, type TeamAbility } from "../../access/teams.ts";
import { formatUsd } from "../catalogue/index.ts";
import { teamPeriodSpend } from "../budgets/index.ts";
import { trimDecimal } from "../../../lib/money.ts";
import { emailSchema, findUserByEmail, usdSchema } from "./users.ts";

export const teamNameSchema = safeString
  .trim()
  .toLowerCase()
  .pipe(
    z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, {
      error: "1 to 63 lower-case letters, digits, dots, dashes or underscores, such as search-team",
    }),
  );
/** A team by id or by name, as the CLI, REST and tRPC take it. */
export const teamRefSchema = safeString.trim().min(1, { error: "a team's name or id" }).max(200);

const rpmSchema = z
  .number({ error: "a whole number of requests per minute" })
  .int({ error: "a whole number of requests per minute" })
  .min(1, { error: "at least 1 request per minute (null removes the limit)" })
  .max(1_000_000, { error: "at most 1000000 requests per minute" });

const teamSettings = {
  /** The team's budget in USD per `budgetPeriod` across its keys; null removes it. */
  monthlyBudgetUsd: usdSchema.nullable().optional(),
  budgetPeriod: z.enum(BUDGET_PERIODS, { error: `one of ${BUDGET_PERIODS.join(", ")}` }).optional(),
  /** Requests per minute across the team's keys; null removes the limit. */
  rpmLimit: rpmSchema.nullable().optional(),
};

export const createTeamInput = z.object({
  name: teamNameSchema,
  ...teamSettings,
  /** The first owner, by email (an admin's own team needs none). */
  ownerEmail: emailSchema.optional(),
});
export type CreateTeamInput = z.input<typeof createTeamInput>;

export const updateTeamInput = z.object(teamSettings);
export type UpdateTeamInput = z.input<typeof updateTeamInput>;

export const memberInput = z.object({
  email: emailSchema,
  role: z.enum(TEAM_ROLES, { error: `one of ${TEAM_ROLES.join(", ")}` }).optional(),
});
export type MemberInput = z.input<typeof memberInput>;

export type TeamView = {
  id: string;
  name: string;
  monthlyBudgetUsd: string | null;
  budgetPeriod: BudgetPeriod;
  rpmLimit: number | null;
  /** What the team has spent in the budget's current period (whether or not it has a budget). */
  spentUsd: string;
  members: number;
  keys: number;
  /** The caller's role in the team ("admin": not a member, but an admin). */
  role: TeamRole | "admin";
  /** What the caller may do in it (the team access policy). */
  abilities: TeamAbility[];
  createdAt: Date;
};

export type TeamMemberView = { userId: string; email: string | null; name: string | null; role: TeamRole; addedAt: Date };

function parsed<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const name = issue.path.join(".") || "input";
    throw new AppError("invalid_request", `Invalid ${name}: must be ${issue.message}`, { field: name });
  }
  return r.data;
}

const TEAM_SELECT = {
  id: true,
  name: true,
  monthlyBudgetUsd: true,
  budgetPeriod: true,
  rpmLimit: true,
  createdAt: true,
  _count: { select: { members: true, apiKeys: { where: { revokedAt: null } } } },
} as const;

type TeamRow = {
  id: string;
  name: string;
  monthlyBudgetUsd: { toFixed(n: number): string } | null;
  budgetPeriod: BudgetPeriod;
  rpmLimit: number | null;
  createdAt: Date;
  _count: { members: number; apiKeys: number };
};

/** A team as its audit rows show it. */
function audited(row: TeamRow) {
  return {
    id: row.id,
    name: row.name,
    monthlyBudgetUsd: row.monthlyBudgetUsd ? trimDecimal(row.monthlyBudgetUsd.toFixed(6)) : null,
    budgetPeriod: row.budgetPeriod,
    rpmLimit: row.rpmLimit,
  };
}

async function toView(row: TeamRow, role: TeamRole | "admin"): Promise<TeamView> {
  return {
    ...audited(row),
    spentUsd: formatUsd(await teamPeriodSpend(row.id, row.budgetPeriod)),
    members: row._count.members,
    keys: row._count.apiKeys,
    role,
    abilities: abilitiesOf(role),
    createdAt: row.createdAt,
  };
}

/** The team a name or id names, or 404. */
export async function findTeam(ref: string): Promise<{ id: string; name: string }> {
  const key = parsed(teamRefSchema, ref);
  const db = await getDb();
  const row =
    (await db.team.findUnique({ where: { name: key.toLowerCase() }, select: { id: true, name: true } })) ??
    (await db.team.findUnique({ where: { id: key }, select: { id: true, name: true } }));
  if (!row) throw new AppError("not_found", `No team ${key}`, { field: "team" });
  return row;
}

/** The team a name or id names, if the caller may `ability` there: 404 for a team they are not in. */
export async function teamFor(
  actor: Actor,
  ref: string,
  ability: TeamAbility,
): Promise<{ id: string; name: string; role: TeamRole | "admin" }> {
  // As for keys: a narrowly scoped user key must not be able to change what its team may spend or who is in it.
  if (ability !== "view" && actor.kind === "apiKey" && actor.role !== "admin") {
    throw new AppError(
      "forbidden",
      "Manage teams and their keys from the dashboard, with a platform JWT or with an admin key, not with a user key",
    );
  }
  const team = await findTeam(ref).catch((e: unknown) => {
    throw e instanceof AppError && e.code === "not_found" ? new AppError("not_found", `No team ${ref.trim()}`, { field: "team" }) : e;
  });
  const role = await requireTeamAbility(actor, team.id, ability).catch((e: unknown) => {
    throw e instanceof AppError && e.code === "not_found" ? new AppError("not_found", `No team ${ref.trim()}`, { field: "team" }) : e;
  });
  return { ...team, role };
}

function requireAdmin(actor: Actor): void {
  if (!isAdminActor(actor)) throw new AppError("forbidden", "Only an admin can create a team");
}

/** Creates a team (admins and the CLI), with its first owner when given. 409 when the name is taken. */
export async function createTeam(actor: Actor, raw: CreateTeamInput): Promise<TeamView> {
  requireAdmin(actor);
  const input = parsed(createTeamInput, raw);
  const owner = input.ownerEmail ? await findUserByEmail(input.ownerEmail) : null;
  if (input.ownerEmail && !owner) throw new AppError("not_found", `No user with the email ${input.ownerEmail}`, { field: "ownerEmail" });
  const db = await getDb();
  if (await db.team.findUnique({ where: { name: input.name }, select: { id: true } })) {
    throw new AppError("conflict", `A team named ${input.name} already exists`, { field: "name" });
  }
  const row = await db
    .$transaction(async (tx) => {
      const created = await tx.team.create({
        data: {
          name: input.name,
          monthlyBudgetUsd: input.monthlyBudgetUsd ?? null,
          budgetPeriod: input.budgetPeriod ?? "month",
          rpmLimit: input.rpmLimit ?? null,
          ...(owner ? { members: { create: { userId: owner.id, role: "owner" } } } : {}),
        },
        select: TEAM_SELECT,
      });
      await writeAudit(tx, { actor, action: "team.create", target: { kind: "team", id: created.id }, after: audited(created) });
      if (owner) {
        await writeAudit(tx, {
          actor,
          action: "team.member_add",
          target: { kind: "team", id: created.id },
          after: { userId: owner.id, email: owner.email, role: "owner" },
        });
      }
      return created;
    })
    .catch((e: unknown) => {
      // Two creations of one name at once: the second meets the unique index, not the check above.
      if ((e as { code?: string }).code === "P2002")
        throw new AppError("conflict", `A team named ${input.name} already exists`, { field: "name" });
      throw e;
    });
  await publishInvalidation({ kind: "team", id: row.id });
  return toView(row, "admin");
}

/** The teams the caller may see: every team (admin, CLI) or the ones they belong to, by name. */
export async function listTeams(actor: Actor): Promise<TeamView[]> {
  const db = await getDb();
  if (isAdminActor(actor)) {
    const rows = await db.team.findMany({ select: TEAM_SELECT, orderBy: { name: "asc" } });
    const mine = actor.kind === "cli" || !actor.userId ? [] : await membershipsOf(actor.userId);
    return Promise.all(rows.map((r) => toView(r, mine.find((m) => m.teamId === r.id)?.role ?? "admin")));
  }
  if (actor.kind === "cli" || !actor.userId) return [];
  const memberships = await db.teamMember.findMany({ where: { userId: actor.userId }, select: { teamId: true, role: true } });
  const rows = await db.team.findMany({
    where: { id: { in: memberships.map((m) => m.teamId) } },
    select: TEAM_SELECT,
    orderBy: { name: "asc" },
  });
  return Promise.all(rows.map((r) => toView(r, memberships.find((m) => m.teamId === r.id)!.role)));
}

/** One team the caller may see, with its members. */
export async function getTeamDetail(actor: Actor, ref: string): Promise<TeamView & { memberList: TeamMemberView[] }> {
  const team = await teamFor(actor, ref, "view");
  const db = await getDb();
  const [row, members] = await Promise.all([
    db.team.findUniqueOrThrow({ where: { id: team.id }, select: TEAM_SELECT }),
    db.teamMember.findMany({
      where: { teamId: team.id },
      select: { userId: true, role: true, createdAt: true, user: { select: { email: true, name: true } } },
      orderBy: [{ role: "asc" }, { createdAt: "asc" }],
    }),
  ]);
  return {
    ...(await toView(row, team.role)),
    memberList: members.map((m) => ({ userId: m.userId, email: m.user.email, name: m.user.name, role: m.role, addedAt: m.createdAt })),
  };
}

/** Changes a team's budget, its period or its requests per minute (owners and admins); null removes one. */
export async function updateTeam(actor: Actor, ref: string, raw: UpdateTeamInput): Promise<TeamView> {
  const team = await teamFor(actor, ref, "manage");
  const input = parsed(updateTeamInput, raw);
  const data: Record<string, unknown> = {};
  for (const f of ["monthlyBudgetUsd", "budgetPeriod", "rpmLimit"] as const) if (input[f] !== undefined) data[f] = input[f];
  if (Object.keys(data).length === 0)
    throw new AppError("invalid_request", "Nothing to change: give monthlyBudgetUsd, budgetPeriod or rpmLimit");
  const db = await getDb();
  const row = await db.$transaction(async (tx) => {
    const before = await tx.team.findUniqueOrThrow({ where: { id: team.id }, select: TEAM_SELECT });
    const after = await tx.team.update({ where: { id: team.id }, data, select: TEAM_SELECT });
    await writeAudit(tx, {
      actor,
      action: "team.update",
      target: { kind: "team", id: team.id },
      before: audited(before),
      after: audited(after),
    });
    return after;
  });
  await publishInvalidation({ kind: "team", id: team.id });
  return toView(row, team.role);
}

/**
 * Adds a user to a team with a role (member by default), or changes the role of one already in it
 * (owners and admins). Adding someone with the role they have changes nothing and writes nothing.
 */
export async function addTeamMember(actor: Actor, ref: string, raw: MemberInput): Promise<TeamMemberView> {
  const team = await teamFor(actor, ref, "manage");
  const input = parsed(memberInput, raw);
  const user = await findUserByEmail(input.email);
  if (!user) throw new AppError("not_found", `No user with the email ${input.email}`, { field: "email" });
  const role: TeamRole = input.role ?? "member";
  const db = await getDb();
  const member = await db.$transaction(async (tx) => {
    const existing = await tx.teamMember.findUnique({ where: { teamId_userId: { teamId: team.id, userId: user.id } } });
    if (existing?.role === role) return existing;
    if (existing?.role === "owner") await refuseLastOwner(tx, team.id, "demote");
    const saved = await tx.teamMember.upsert({
      where: { teamId_userId: { teamId: team.id, userId: user.id } },
      create: { teamId: team.id, userId: user.id, role },
      update: { role },
    });
    await writeAudit(tx, {
      actor,
      action: existing ? "team.member_update" : "team.member_add",
      target: { kind: "team", id: team.id },
      ...(existing ? { before: { userId: user.id, email: user.email, role: existing.role } } : {}),
      after: { userId: user.id, email: user.email, role },
    });
    return saved;
  });
  await publishInvalidation({ kind: "team", id: team.id });
  return { userId: user.id, email: user.email, name: user.name, role: member.role, addedAt: member.createdAt };
}

type Tx = Parameters<Parameters<Awaited<ReturnType<typeof getDb>>["$transaction"]>[0]>[0];

/** A team keeps at least one owner: 409 when the change would take away its last. */
async function refuseLastOwner(tx: Tx, teamId: string, what: "remove" | "demote"): Promise<void> {
  const owners = await tx.teamMember.count({ where: { teamId, role: "owner" } });
  if (owners <= 1) {
    throw new AppError("conflict", `This is the team's last owner: make someone else an owner before you ${what} them`, { field: "email" });
  }
}

/** Takes a user out of a team (owners and admins). 404 when they are not in it. */
export async function removeTeamMember(actor: Actor, ref: string, email: string): Promise<{ removed: true }> {
  const team = await teamFor(actor, ref, "manage");
  const address = parsed(emailSchema, email);
  const user = await findUserByEmail(address);
  const db = await getDb();
  await db.$transaction(async (tx) => {
    const existing = user ? await tx.teamMember.findUnique({ where: { teamId_userId: { teamId: team.id, userId: user.id } } }) : null;
    if (!user || !existing) throw new AppError("not_found", `${address} is not a member of ${team.name}`, { field: "email" });
    if (existing.role === "owner") await refuseLastOwner(tx, team.id, "remove");
    await tx.teamMember.delete({ where: { teamId_userId: { teamId: team.id, userId: user.id } } });
    await writeAudit(tx, {
      actor,
      action: "team.member_remove",
      target: { kind: "team", id: team.id },
      before: { userId: user.id, email: user.email, role: existing.role },
    });
  });
  await publishInvalidation({ kind: "team", id: team.id });
  return { removed: true };
}
