import "server-only";
// teams.*: the dashboard's teams pages (and any tRPC client): list, one team with its members,
// create (admins), change the budget and limit, add, re-role and remove members. Thin: the
// service (teams.ts) applies the team access policy (server/access/teams.ts).
import { z } from "zod";
import { BUDGET_PERIODS, TEAM_ROLES } from "../../access/identity.ts";
import { createTRPCRouter, procedure } from "../../trpc/init.ts";
import { TEAM_READ_POLICY, TEAM_WRITE_POLICY } from "./policies.ts";
import {
  addTeamMember,
  createTeam,
  createTeamInput,
  getTeamDetail,
  listTeams,
  memberInput,
  removeTeamMember,
  teamRefSchema,
  updateTeam,
  updateTeamInput,
} from "./teams.ts";
import { emailSchema } from "./users.ts";

const teamOutput = z.object({
  id: z.string(),
  name: z.string(),
  monthlyBudgetUsd: z.string().nullable(),
  budgetPeriod: z.enum(BUDGET_PERIODS),
  rpmLimit: z.number().nullable(),
  spentUsd: z.string(),
  members: z.number(),
  keys: z.number(),
  role: z.enum([...TEAM_ROLES, "admin"]),
  abilities: z.array(z.enum(["view", "use_keys", "manage_keys", "manage"])),
  createdAt: z.date(),
});
const memberOutput = z.object({
  userId: z.string(),
  email: z.string().nullable(),
  name: z.string().nullable(),
  role: z.enum(TEAM_ROLES),
  addedAt: z.date(),
});
const byTeam = z.object({ team: teamRefSchema });

export const teamsRouter = createTRPCRouter({
  /** The teams the caller belongs to (an admin: every team), by name. */
  list: procedure(TEAM_READ_POLICY)
    .output(z.array(teamOutput))
    .query(({ ctx }) => listTeams(ctx.identity)),

  /** One team (by name or id) with its members; 404 for a team the caller is not in. */
  get: procedure(TEAM_READ_POLICY)
    .input(byTeam)
    .output(teamOutput.extend({ memberList: z.array(memberOutput) }))
    .query(({ ctx, input }) => getTeamDetail(ctx.identity, input.team)),

  /** A new team (admins), with its first owner when `ownerEmail` is given. */
  create: procedure(TEAM_WRITE_POLICY)
    .input(createTeamInput)
    .output(teamOutput)
    .mutation(({ ctx, input }) => createTeam(ctx.identity, input)),

  /** The team's budget, its period and its requests per minute (owners, admins); null removes one. */
  update: procedure(TEAM_WRITE_POLICY)
    .input(byTeam.extend({ change: updateTeamInput }))
    .output(teamOutput)
    .mutation(({ ctx, input }) => updateTeam(ctx.identity, input.team, input.change)),

  /** Adds a member with a role (member by default), or changes the role of one already in the team. */
  addMember: procedure(TEAM_WRITE_POLICY)
    .input(byTeam.extend(memberInput.shape))
    .output(memberOutput)
    .mutation(({ ctx, input }) => addTeamMember(ctx.identity, input.team, { email: input.email, role: input.role })),

  removeMember: procedure(TEAM_WRITE_POLICY)
    .input(byTeam.extend({ email: emailSchema }))
    .output(z.object({ removed: z.literal(true) }))
    .mutation(({ ctx, input }) => removeTeamMember(ctx.identity, input.team, input.email)),
});
