import "server-only";
// CLI commands for teams: create, list, add-member (also changes a member's role), remove-member,
// update (budget, period, requests per minute). They act as the operator (CLI_ACTOR), through the
// same service as the dashboard and the API (features/accounts/teams.ts), so each writes its audit row.
import { TEAM_ROLES } from "../../lib/access.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";
import { budgetOption, countOption, friendly, periodOption, table } from "./security-commands.ts";

type Values = Record<string, string | boolean | undefined>;
const str = (v: string | boolean | undefined) => (typeof v === "string" ? v : undefined);

function roleOption(v: string | boolean | undefined): (typeof TEAM_ROLES)[number] | undefined {
  const s = str(v)?.trim();
  if (s === undefined) return undefined;
  if (!(TEAM_ROLES as readonly string[]).includes(s)) throw new UsageError(`--role must be one of ${TEAM_ROLES.join(", ")}`);
  return s as (typeof TEAM_ROLES)[number];
}

const budgetText = (t: { monthlyBudgetUsd: string | null; budgetPeriod: string }) =>
  t.monthlyBudgetUsd ? `$${t.monthlyBudgetUsd} per ${t.budgetPeriod}` : "none";

export const teamCommands: Command[] = [
  {
    name: "teams create",
    summary: "Create a team: its keys share its budget and its requests per minute; its members see its usage.",
    args: [{ name: "name", description: "The team's name: lower-case letters, digits, dots, dashes, underscores" }],
    options: {
      owner: { type: "string", placeholder: "EMAIL", description: "The first owner (a dashboard account)" },
      budget: {
        type: "string",
        placeholder: "USD",
        description: "Budget in USD across the team's keys (per month unless --budget-period)",
      },
      "budget-period": {
        type: "string",
        placeholder: "day|week|month",
        description: "The period --budget counts over, in UTC (default month)",
      },
      rpm: { type: "string", placeholder: "N", description: "Requests per minute across all the team's keys" },
      json: { type: "boolean", description: "Print JSON" },
    },
    async run(v: Values, io) {
      const { CLI_ACTOR } = await import("../access/identity.ts");
      const { createTeam } = await import("../features/accounts/teams.ts");
      const team = await friendly(() =>
        createTeam(CLI_ACTOR, {
          name: str(v.name)!,
          ownerEmail: str(v.owner),
          monthlyBudgetUsd: budgetOption(v.budget) ?? undefined,
          budgetPeriod: periodOption(v["budget-period"]),
          rpmLimit: countOption(v.rpm, "rpm") ?? undefined,
        }),
      );
      if (v.json) return io.out(JSON.stringify(team, null, 2));
      io.out(
        `Created team ${team.name} (id ${team.id}, budget ${budgetText(team)}${team.rpmLimit ? `, ${team.rpmLimit} rpm` : ""}${str(v.owner) ? `, owner ${str(v.owner)}` : ""}).`,
      );
    },
  },
  {
    name: "teams list",
    summary: "List the teams with their budget, spend in the current period, requests per minute, members and keys.",
    options: { json: { type: "boolean", description: "Print JSON" } },
    async run(v: Values, io) {
      const { CLI_ACTOR } = await import("../access/identity.ts");
      const { listTeams } = await import("../features/accounts/teams.ts");
      const teams = await friendly(() => listTeams(CLI_ACTOR));
      if (v.json) return io.out(JSON.stringify(teams, null, 2));
      if (teams.length === 0) return io.out("No teams. Create one: npm run cli -- teams create search --owner ada@example.com");
      table(io, [
        ["ID", "NAME", "BUDGET", "SPENT", "RPM", "MEMBERS", "KEYS"],
        ...teams.map((t) => [
          t.id,
          t.name,
          budgetText(t),
          `$${t.spentUsd}`,
          t.rpmLimit ? String(t.rpmLimit) : "-",
          String(t.members),
          String(t.keys),
        ]),
      ]);
    },
  },
  {
    name: "teams update",
    summary: "Change a team's budget, its period or its requests per minute; none removes one.",
    args: [{ name: "team", description: "The team's name or id" }],
    options: {
      budget: { type: "string", placeholder: "USD|none", description: "Budget in USD across the team's keys" },
      "budget-period": { type: "string", placeholder: "day|week|month", description: "The period the budget counts over" },
      rpm: { type: "string", placeholder: "N|none", description: "Requests per minute across the team's keys" },
    },
    async run(v: Values, io) {
      const { CLI_ACTOR } = await import("../access/identity.ts");
      const { updateTeam } = await import("../features/accounts/teams.ts");
      const team = await friendly(() =>
        updateTeam(CLI_ACTOR, str(v.team)!, {
          monthlyBudgetUsd: budgetOption(v.budget),
          budgetPeriod: periodOption(v["budget-period"]),
          rpmLimit: countOption(v.rpm, "rpm"),
        }),
      );
      io.out(`Updated team ${team.name}: budget ${budgetText(team)}, ${team.rpmLimit ? `${team.rpmLimit} rpm` : "no rpm limit"}.`);
    },
  },
  {
    name: "teams add-member",
    summary: "Add a user to a team with a role (owner, member or viewer; member by default), or change the role of one already in it.",
    args: [
      { name: "team", description: "The team's name or id" },
      { name: "email", description: "The user's email (a dashboard account)" },
    ],
    options: { role: { type: "string", placeholder: TEAM_ROLES.join("|"), description: "The member's role (default member)" } },
    async run(v: Values, io) {
      const { CLI_ACTOR } = await import("../access/identity.ts");
      const { addTeamMember } = await import("../features/accounts/teams.ts");
      const m = await friendly(() => addTeamMember(CLI_ACTOR, str(v.team)!, { email: str(v.email)!, role: roleOption(v.role) }));
      io.out(`${m.email} is now ${m.role === "owner" ? "an" : "a"} ${m.role} of ${str(v.team)}.`);
    },
  },
  {
    name: "teams remove-member",
    summary: "Take a user out of a team (a team keeps its last owner).",
    args: [
      { name: "team", description: "The team's name or id" },
      { name: "email", description: "The member's email" },
    ],
    async run(v: Values, io) {
      const { CLI_ACTOR } = await import("../access/identity.ts");
      const { removeTeamMember } = await import("../features/accounts/teams.ts");
      await friendly(() => removeTeamMember(CLI_ACTOR, str(v.team)!, str(v.email)!));
      io.out(`Removed ${str(v.email)} from ${str(v.team)}.`);
    },
  },
];
