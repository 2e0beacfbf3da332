"use client";
// The admin Users page (#20 item 4): the dashboard accounts with their role, budget and state; a
// form to create one (with an initial password to pass on), and in each row the role, the budget and
// disable/enable, so that day-to-day account work needs no CLI. Talks to `users.*`.
import { useRef, useState, type FormEvent } from "react";
import { BUDGET_PERIODS, ROLES, type BudgetPeriod, type Role } from "@/lib/access";
import { dateTime } from "@/lib/dates";
import { trpc } from "../shared/trpc-provider";
import type { RouterOutputs } from "../wire";

type User = RouterOutputs["users"]["list"][number];

function CreateUserForm() {
  const utils = trpc.useUtils();
  const form = useRef<HTMLFormElement>(null);
  const create = trpc.users.create.useMutation({
    onSuccess: async () => {
      form.current?.reset();
      await utils.users.list.invalidate();
    },
  });
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const budget = String(f.get("budget") ?? "").trim();
    create.mutate({
      email: String(f.get("email") ?? ""),
      password: String(f.get("password") ?? ""),
      role: String(f.get("role")) as Role,
      monthlyBudgetUsd: budget || undefined,
      budgetPeriod: String(f.get("budgetPeriod")) as BudgetPeriod,
    });
  }
  return (
    <form ref={form} className="panel key-form" onSubmit={submit} aria-label="Create a user">
      <h2>Create a user</h2>
      <div className="form-row">
        <label className="field">
          <span className="field-label">Email</span>
          <input name="email" type="email" required maxLength={320} placeholder="ada@example.com" />
        </label>
        <label className="field">
          <span className="field-label">Initial password (pass it on; they can change it)</span>
          <input name="password" type="password" required minLength={8} maxLength={200} autoComplete="new-password" />
        </label>
        <label className="field">
          <span className="field-label">Role</span>
          <select name="role" defaultValue="user">
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span className="field-label">Budget (USD per period, optional)</span>
          <input name="budget" inputMode="decimal" pattern="\d+(\.\d{1,6})?" placeholder="none" />
        </label>
        <label className="field">
          <span className="field-label">Budget period</span>
          <select name="budgetPeriod" defaultValue="month">
            {BUDGET_PERIODS.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </label>
      </div>
      {create.error ? (
        <p className="form-error" role="alert">
          {create.error.message}
        </p>
      ) : null}
      {create.data ? (
        <p className="muted" role="status">
          Created {create.data.email}: they sign in at /login with the password you chose.
        </p>
      ) : null}
      <button type="submit" className="button" disabled={create.isPending}>
        {create.isPending ? "Creating…" : "Create user"}
      </button>
    </form>
  );
}

function UserRow({ user, self }: { user: User; self: boolean }) {
  const utils = trpc.useUtils();
  const update = trpc.users.update.useMutation({ onSuccess: () => utils.users.list.invalidate() });
  const [budget, setBudget] = useState(user.monthlyBudgetUsd ?? "");
  const label = user.email ?? user.externalId ?? user.id;
  return (
    <tr data-testid="user-row" data-user-id={user.id} data-revoked={user.disabledAt ? "true" : "false"}>
      <td className="cell-wrap">
        {label}
        {self ? <span className="pill">you</span> : null}
        <span className="cell-sub">{user.externalId ? "platform identity (JWT)" : `created ${dateTime(user.createdAt)}`}</span>
      </td>
      <td>
        <select
          aria-label={`Role of ${label}`}
          value={user.role}
          disabled={self || update.isPending}
          onChange={(e) => update.mutate({ id: user.id, change: { role: e.target.value as Role } })}
        >
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </td>
      <td>
        <form
          className="row-actions"
          aria-label={`Budget of ${label}`}
          onSubmit={(e) => {
            e.preventDefault();
            update.mutate({ id: user.id, change: { monthlyBudgetUsd: budget.trim() ? budget.trim() : null } });
          }}
        >
          <input
            aria-label={`Budget of ${label} (USD per ${user.budgetPeriod})`}
            inputMode="decimal"
            size={8}
            value={budget}
            placeholder="none"
            onChange={(e) => setBudget(e.target.value)}
          />
          <span className="muted">/ {user.budgetPeriod}</span>
          <button type="submit" className="link-button" disabled={update.isPending}>
            Save
          </button>
        </form>
      </td>
      <td>{user.disabledAt ? <span className="muted">disabled {dateTime(user.disabledAt)}</span> : "active"}</td>
      <td className="cell-actions">
        {self ? null : (
          <button
            type="button"
            className={`link-button${user.disabledAt ? "" : " danger"}`}
            disabled={update.isPending}
            onClick={() => update.mutate({ id: user.id, change: { disabled: !user.disabledAt } })}
          >
            {user.disabledAt ? "Enable" : "Disable"}
          </button>
        )}
        {update.error ? <span className="form-error"> {update.error.message}</span> : null}
      </td>
    </tr>
  );
}

export function UsersManager({ initialUsers, selfId }: { initialUsers: User[]; selfId: string | null }) {
  const users = trpc.users.list.useQuery(undefined, { initialData: initialUsers, staleTime: 5_000 });
  return (
    <>
      <CreateUserForm />
      {users.error ? (
        <p className="form-error" role="alert">
          {users.error.message}
        </p>
      ) : null}
      <div className="table-wrap">
        <table className="table" aria-label="Users">
          <thead>
            <tr>
              <th>User</th>
              <th>Role</th>
              <th>Budget</th>
              <th>State</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {(users.data ?? []).map((u) => (
              <UserRow key={u.id} user={u} self={u.id === selfId} />
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

export function UsersAdminsOnly() {
  return <p className="muted">Only an admin can manage users.</p>;
}
