import "server-only";
// The teams over REST, snake_case, thin twins of the `teams` tRPC router over the same service
// (teams.ts) and the same team access policy:
//   GET  /v1/teams                         the caller's teams (an admin: every team)
//   POST /v1/teams                         {name, budget_usd?, budget_period?, rpm_limit?, owner_email?} (admins)
//   GET  /v1/teams/{team}                  one team (name or id) with its members
//   PATCH /v1/teams/{team}                 {budget_usd?, budget_period?, rpm_limit?} (owners, admins); null removes one
//   POST /v1/teams/{team}/members          {email, role?}: add, or change the role of, a member
//   DELETE /v1/teams/{team}/members/{email}
import { z } from "zod";
import { endpoint, route } from "../../http/endpoint.ts";
import { BUDGET_PERIODS, TEAM_ROLES } from "../../access/identity.ts";
import { TEAM_READ_POLICY, TEAM_WRITE_POLICY } from "./policies.ts";
import {
  addTeamMember,
  createTeam,
  getTeamDetail,
  listTeams,
  removeTeamMember,
  updateTeam,
  type TeamMemberView,
  type TeamView,
} from "./teams.ts";

const budgetField = z.union([z.string(), z.number()]).nullable().optional();
const periodField = z.enum(BUDGET_PERIODS, { error: `one of ${BUDGET_PERIODS.join(", ")}` }).optional();
const rpmField = z.number({ error: "a whole number of requests per minute, or null" }).nullable().optional();

const createBody = z.object({
  name: z.string({ error: "the team's name" }),
  budget_usd: budgetField,
  budget_period: periodField,
  rpm_limit: rpmField,
  owner_email: z.string().optional(),
});
const updateBody = z.object({ budget_usd: budgetField, budget_period: periodField, rpm_limit: rpmField });
const memberBody = z.object({
  email: z.string({ error: "the member's email" }),
  role: z.enum(TEAM_ROLES, { error: `one of ${TEAM_ROLES.join(", ")}` }).optional(),
});

const teamJson = (t: TeamView) => ({
  id: t.id,
  name: t.name,
  budget_usd: t.monthlyBudgetUsd,
  budget_period: t.budgetPeriod,
  rpm_limit: t.rpmLimit,
  spent_usd: t.spentUsd,
  members: t.members,
  keys: t.keys,
  role: t.role,
  abilities: t.abilities,
  created_at: t.createdAt.toISOString(),
});
const memberJson = (m: TeamMemberView) => ({
  user_id: m.userId,
  email: m.email,
  name: m.name,
  role: m.role,
  added_at: m.addedAt.toISOString(),
});

export const teams = endpoint({
  GET: route({
    ...TEAM_READ_POLICY,
    doc: { summary: "The caller's teams (an admin: every team), with budget, spend and the caller's role" },
    handler: async ({ identity }) => ({ teams: (await listTeams(identity)).map(teamJson) }),
  }),
  POST: route({
    ...TEAM_WRITE_POLICY,
    doc: { summary: "Create a team (admins), with its first owner when owner_email is given" },
    body: createBody,
    handler: async ({ identity, body }) =>
      teamJson(
        await createTeam(identity, {
          name: body.name,
          monthlyBudgetUsd: body.budget_usd,
          budgetPeriod: body.budget_period,
          rpmLimit: body.rpm_limit,
          ownerEmail: body.owner_email,
        }),
      ),
  }),
});

export const team = endpoint({
  GET: route({
    ...TEAM_READ_POLICY,
    doc: { summary: "One team (by name or id) with its members" },
    handler: async ({ identity, params }) => {
      const t = await getTeamDetail(identity, params.team ?? "");
      return { ...teamJson(t), member_list: t.memberList.map(memberJson) };
    },
  }),
  PATCH: route({
    ...TEAM_WRITE_POLICY,
    doc: { summary: "Change a team's budget, budget period or requests per minute (owners, admins); null removes one" },
    body: updateBody,
    handler: async ({ identity, params, body }) =>
      teamJson(
        await updateTeam(identity, params.team ?? "", {
          monthlyBudgetUsd: body.budget_usd,
          budgetPeriod: body.budget_period,
          rpmLimit: body.rpm_limit,
        }),
      ),
  }),
});

export const teamMembers = endpoint({
  POST: route({
    ...TEAM_WRITE_POLICY,
    doc: { summary: "Add a member with a role (member by default), or change the role of one (owners, admins)" },
    body: memberBody,
    handler: async ({ identity, params, body }) => memberJson(await addTeamMember(identity, params.team ?? "", body)),
  }),
});

export const teamMember = endpoint({
  DELETE: route({
    ...TEAM_WRITE_POLICY,
    doc: { summary: "Take a member out of a team (owners, admins); a team keeps its last owner" },
    handler: async ({ identity, params }) => removeTeamMember(identity, params.team ?? "", params.email ?? ""),
  }),
});
