"use client";
// The teams pages: the list of the caller's teams (an admin: every team, and a form to create one),
// and one team: its budget, spend and requests per minute (editable by owners and admins), its
// members with their roles (owners add, re-role and remove them), and its keys (members and owners
// create them, the secret shown once; viewers only see them). What a control shows follows the
// `abilities` the server sends with the team (the team access policy); the server enforces them.
import Link from "next/link";
import { useState, type FormEvent } from "react";
import { BUDGET_PERIODS, TEAM_ROLES, type BudgetPeriod, type TeamRole } from "@/lib/access";
import { dateTime } from "@/lib/dates";
import { EmptyState } from "../shared/empty-state";
import { CodeBlock } from "../shared/code-block";
import { trpc } from "../shared/trpc-provider";
import type { RouterOutputs } from "../wire";
import { KeysTable, NewSecret } from "./keys-manager";

type Team = RouterOutputs["teams"]["list"][number];
type TeamDetail = RouterOutputs["teams"]["get"];
type ApiKey = RouterOutputs["keys"]["list"][number];

const budgetText = (t: { monthlyBudgetUsd: string | null; budgetPeriod: string }) =>
  t.monthlyBudgetUsd ? `$${t.monthlyBudgetUsd} / ${t.budgetPeriod}` : "none";

function ErrorLine({ error }: { error: { message: string } | null }) {
  return error ? (
    <p className="form-error" role="alert">
      {error.message}
    </p>
  ) : null;
}

function CreateTeamForm() {
  const utils = trpc.useUtils();
  const create = trpc.teams.create.useMutation({ onSuccess: () => utils.teams.list.invalidate() });
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const budget = String(form.get("budget") ?? "").trim();
    const rpm = String(form.get("rpm") ?? "").trim();
    const owner = String(form.get("owner") ?? "").trim();
    create.mutate(
      {
        name: String(form.get("name") ?? ""),
        ...(budget ? { monthlyBudgetUsd: budget } : {}),
        budgetPeriod: String(form.get("budgetPeriod")) as BudgetPeriod,
        ...(rpm ? { rpmLimit: Number(rpm) } : {}),
        ...(owner ? { ownerEmail: owner } : {}),
      },
      { onSuccess: () => (e.target as HTMLFormElement).reset() },
    );
  }
  return (
    <form className="panel key-form" onSubmit={submit} aria-label="Create a team">
      <h2>Create a team</h2>
      <div className="form-row">
        <label className="field">
          <span className="field-label">Name</span>
          <input name="name" required placeholder="search-team" pattern="[a-z0-9][a-z0-9._\-]{0,62}" />
        </label>
        <label className="field">
          <span className="field-label">First owner (email, optional)</span>
          <input name="owner" type="email" placeholder="ada@example.com" />
        </label>
        <label className="field">
          <span className="field-label">Budget (USD per period; empty: none)</span>
          <input name="budget" inputMode="decimal" pattern="\d+(\.\d{1,6})?" placeholder="none" />
        </label>
        <TeamLimitFields />
      </div>
      <ErrorLine error={create.error} />
      <button type="submit" className="button" disabled={create.isPending}>
        {create.isPending ? "Creating…" : "Create team"}
      </button>
    </form>
  );
}

function TeamLimitFields({ team }: { team?: TeamDetail }) {
  return (
    <>
      <label className="field">
        <span className="field-label">Budget period</span>
        <select name="budgetPeriod" defaultValue={team?.budgetPeriod ?? "month"}>
          {BUDGET_PERIODS.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span className="field-label">Requests / minute (all its keys)</span>
        <input name="rpm" inputMode="numeric" pattern="\d+" defaultValue={team?.rpmLimit ?? ""} placeholder="none" />
      </label>
    </>
  );
}

/** The teams list page. */
export function TeamsManager({ initialTeams, isAdmin }: { initialTeams: Team[]; isAdmin: boolean }) {
  const teams = trpc.teams.list.useQuery(undefined, { initialData: initialTeams, staleTime: 5_000 });
  const list = teams.data ?? [];
  return (
    <>
      {isAdmin ? <CreateTeamForm /> : null}
      <ErrorLine error={teams.error} />
      {list.length ? (
        <div className="table-wrap">
          <table className="table" aria-label="Teams">
            <thead>
              <tr>
                <th>Team</th>
                <th>Your role</th>
                <th>Budget</th>
                <th>Spent this period</th>
                <th>Requests / minute</th>
                <th>Members</th>
                <th>Keys</th>
              </tr>
            </thead>
            <tbody>
              {list.map((t) => (
                <tr key={t.id} data-testid="team-row" data-team={t.name}>
                  <td>
                    <Link href={`/teams/${encodeURIComponent(t.name)}`}>{t.name}</Link>
                  </td>
                  <td>{t.role}</td>
                  <td>{budgetText(t)}</td>
                  <td>${t.spentUsd}</td>
                  <td>{t.rpmLimit ?? <span className="muted">none</span>}</td>
                  <td>{t.members}</td>
                  <td>{t.keys}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <EmptyState title="No teams yet">
          <p>{isAdmin ? "Create one above, or with the CLI:" : "An admin creates teams and adds you to them; with the CLI:"}</p>
          <CodeBlock>npm run cli -- teams create search --owner ada@example.com --budget 100</CodeBlock>
        </EmptyState>
      )}
    </>
  );
}

function TeamSettings({ team }: { team: TeamDetail }) {
  const utils = trpc.useUtils();
  const update = trpc.teams.update.useMutation({
    onSuccess: async () => {
      await Promise.all([utils.teams.get.invalidate({ team: team.name }), utils.teams.list.invalidate()]);
    },
  });
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const budget = String(form.get("budget") ?? "").trim();
    const rpm = String(form.get("rpm") ?? "").trim();
    update.mutate({
      team: team.name,
      change: {
        monthlyBudgetUsd: budget ? budget : null,
        budgetPeriod: String(form.get("budgetPeriod")) as BudgetPeriod,
        rpmLimit: rpm ? Number(rpm) : null,
      },
    });
  }
  return (
    <form className="panel key-form" onSubmit={submit} aria-label="Team settings">
      <h2>Budget and limit</h2>
      <div className="form-row">
        <label className="field">
          <span className="field-label">Budget (USD per period; empty: none)</span>
          <input
            name="budget"
            inputMode="decimal"
            pattern="\d+(\.\d{1,6})?"
            defaultValue={team.monthlyBudgetUsd ?? ""}
            placeholder="none"
          />
        </label>
        <TeamLimitFields team={team} />
      </div>
      <ErrorLine error={update.error} />
      <button type="submit" className="button" disabled={update.isPending}>
        {update.isPending ? "Saving…" : "Save"}
      </button>
      {update.isSuccess ? <span className="muted"> Saved.</span> : null}
    </form>
  );
}

function MemberRow({ team, member }: { team: TeamDetail; member: TeamDetail["memberList"][number] }) {
  const utils = trpc.useUtils();
  const refresh = () => Promise.all([utils.teams.get.invalidate({ team: team.name }), utils.teams.list.invalidate()]);
  const setRole = trpc.teams.addMember.useMutation({ onSuccess: refresh });
  const remove = trpc.teams.removeMember.useMutation({ onSuccess: refresh });
  const manage = team.abilities.includes("manage");
  const email = member.email ?? member.userId;
  return (
    <tr data-testid="member-row" data-email={email}>
      <td>{email}</td>
      <td>
        {manage && member.email ? (
          <select
            aria-label={`Role of ${email}`}
            value={member.role}
            disabled={setRole.isPending}
            onChange={(e) => setRole.mutate({ team: team.name, email: member.email!, role: e.target.value as TeamRole })}
          >
            {TEAM_ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        ) : (
          member.role
        )}
      </td>
      <td>{dateTime(member.addedAt)}</td>
      <td>
        {manage && member.email ? (
          <button
            type="button"
            className="link-button danger"
            disabled={remove.isPending}
            onClick={() => remove.mutate({ team: team.name, email: member.email! })}
          >
            Remove
          </button>
        ) : null}
        <ErrorLine error={setRole.error ?? remove.error} />
      </td>
    </tr>
  );
}

function AddMemberForm({ team }: { team: TeamDetail }) {
  const utils = trpc.useUtils();
  const add = trpc.teams.addMember.useMutation({
    onSuccess: () => Promise.all([utils.teams.get.invalidate({ team: team.name }), utils.teams.list.invalidate()]),
  });
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    add.mutate(
      { team: team.name, email: String(form.get("email") ?? ""), role: String(form.get("role")) as TeamRole },
      { onSuccess: () => (e.target as HTMLFormElement).reset() },
    );
  }
  return (
    <form className="form-row" onSubmit={submit} aria-label="Add a member">
      <label className="field">
        <span className="field-label">Email</span>
        <input name="email" type="email" required placeholder="grace@example.com" />
      </label>
      <label className="field">
        <span className="field-label">Role</span>
        <select name="role" defaultValue="member">
          {TEAM_ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </label>
      <button type="submit" className="button" disabled={add.isPending}>
        Add member
      </button>
      <ErrorLine error={add.error} />
    </form>
  );
}

function CreateTeamKeyForm({ team, onCreated }: { team: TeamDetail; onCreated: (name: string, secret: string) => void }) {
  const utils = trpc.useUtils();
  const create = trpc.keys.create.useMutation({
    onSuccess: async (res) => {
      onCreated(res.apiKey.name, res.key);
      await Promise.all([utils.keys.list.invalidate(), utils.teams.get.invalidate({ team: team.name })]);
    },
  });
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    create.mutate({ name: String(form.get("name") ?? ""), team: team.name }, { onSuccess: () => (e.target as HTMLFormElement).reset() });
  }
  return (
    <form className="form-row" onSubmit={submit} aria-label="Create a team key">
      <label className="field">
        <span className="field-label">Key name</span>
        <input name="name" required placeholder="search-backend" />
      </label>
      <button type="submit" className="button" disabled={create.isPending}>
        Create team key
      </button>
      <ErrorLine error={create.error} />
    </form>
  );
}

/** The team's usage over the last 30 days (UTC), per key: the `usage.stats` team filter, read from the roll-ups. */
function TeamUsage({ teamId }: { teamId: string }) {
  const stats = trpc.usage.stats.useQuery({ teamId });
  const data = stats.data;
  return (
    <section className="panel" aria-label="Team usage">
      <h2>Usage, last 30 days</h2>
      <ErrorLine error={stats.error} />
      {!data ? (
        <p className="muted" aria-busy="true">
          Loading…
        </p>
      ) : (
        <>
          <p data-testid="team-usage-totals">
            {data.totals.requests} requests, {data.totals.totalTokens} tokens, ${data.totals.cost}
          </p>
          {data.breakdowns.apiKey.length ? (
            <div className="table-wrap">
              <table className="table" aria-label="Team usage by key">
                <thead>
                  <tr>
                    <th>Key</th>
                    <th>Requests</th>
                    <th>Tokens</th>
                    <th>Cost</th>
                  </tr>
                </thead>
                <tbody>
                  {data.breakdowns.apiKey.map((r) => (
                    <tr key={r.value}>
                      <td>{r.label}</td>
                      <td>{r.requests}</td>
                      <td>{r.totalTokens}</td>
                      <td>${r.cost}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
        </>
      )}
    </section>
  );
}

/** One team's page. */
export function TeamPage({ initialTeam, initialKeys }: { initialTeam: TeamDetail; initialKeys: ApiKey[] }) {
  const team = trpc.teams.get.useQuery({ team: initialTeam.name }, { initialData: initialTeam, staleTime: 5_000 }).data ?? initialTeam;
  const keys = trpc.keys.list.useQuery({ team: initialTeam.name }, { initialData: initialKeys, staleTime: 5_000 }).data ?? initialKeys;
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);
  const show = (name: string, s: string) => setSecret({ name, secret: s });
  return (
    <>
      <section className="panel" aria-label="Team summary">
        <p>
          Your role: <strong data-testid="team-role">{team.role}</strong>. Budget: <strong>{budgetText(team)}</strong>, spent this{" "}
          {team.budgetPeriod}: <strong data-testid="team-spent">${team.spentUsd}</strong>. Requests per minute across its keys:{" "}
          <strong>{team.rpmLimit ?? "no limit"}</strong>. The usage page filters by team too.
        </p>
      </section>
      <TeamUsage teamId={team.id} />
      {team.abilities.includes("manage") ? <TeamSettings team={team} /> : null}
      <section className="panel" aria-label="Members">
        <h2>Members</h2>
        <div className="table-wrap">
          <table className="table" aria-label="Team members">
            <thead>
              <tr>
                <th>Member</th>
                <th>Role</th>
                <th>Added</th>
                <th aria-label="Actions" />
              </tr>
            </thead>
            <tbody>
              {team.memberList.map((m) => (
                <MemberRow key={m.userId} team={team} member={m} />
              ))}
            </tbody>
          </table>
        </div>
        {team.abilities.includes("manage") ? <AddMemberForm team={team} /> : null}
      </section>
      <section className="panel" aria-label="Team keys">
        <h2>Keys</h2>
        {secret ? <NewSecret name={secret.name} secret={secret.secret} onDone={() => setSecret(null)} /> : null}
        {team.abilities.includes("use_keys") ? (
          <CreateTeamKeyForm team={team} onCreated={show} />
        ) : (
          <p className="muted">Viewers see the team&apos;s keys and usage; owners and members create keys.</p>
        )}
        {keys.length ? <KeysTable keys={keys} showOwner={false} onRotated={show} /> : <p className="muted">No keys yet.</p>}
      </section>
    </>
  );
}
