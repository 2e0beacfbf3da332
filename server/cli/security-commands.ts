import "server-only";
// CLI commands for dashboard users and API keys. They act as the operator (CLI_ACTOR): whoever can
// run the CLI on the server already holds the database's credentials. A key's secret is printed
// once, by `keys create` and `keys rotate`, and never again.
import { TIERS, type Tier } from "../../lib/access.ts";
import type { Command, CliIO } from "./command.ts";
import { UsageError } from "./command.ts";

type Values = Record<string, string | boolean | undefined>;

const str = (v: string | boolean | undefined) => (typeof v === "string" ? v : undefined);

/** "none"/"off" clears a budget; otherwise the amount as given (the service validates it). */
export function budgetOption(v: string | boolean | undefined): string | null | undefined {
  const s = str(v)?.trim();
  if (s === undefined) return undefined;
  return s === "none" || s === "off" ? null : s.replace(/^\$/, "");
}

/** A whole number (--rpm, --tpm, --max-parallel); "none"/"off" removes the limit. */
export function countOption(v: string | boolean | undefined, flag: string): number | null | undefined {
  const s = str(v)?.trim();
  if (s === undefined) return undefined;
  if (s === "none" || s === "off") return null;
  if (!/^\d+$/.test(s)) throw new UsageError(`--${flag} must be a whole number, or none to remove the limit`);
  return Number(s);
}

/** --budget-period: day, week or month. */
export function periodOption(v: string | boolean | undefined): "day" | "week" | "month" | undefined {
  const s = str(v)?.trim();
  if (s === undefined) return undefined;
  if (s !== "day" && s !== "week" && s !== "month") throw new UsageError("--budget-period must be day, week or month");
  return s;
}

/** --models a,b: catalogue ids or aliases; "all"/"none" (or an empty list) lifts the allow-list. */
function modelsOption(v: string | boolean | undefined): string[] | undefined {
  const s = str(v)?.trim();
  if (s === undefined) return undefined;
  if (s === "all" || s === "none") return [];
  return s
    .split(",")
    .map((m) => m.trim())
    .filter(Boolean);
}

const DURATION_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** --expires: an ISO date (2027-01-31, 2027-01-31T12:00:00Z), a duration from now (30d, 12h, 2w, 90m), or never. */
export function expiresOption(v: string | boolean | undefined, now = Date.now()): string | null | undefined {
  const s = str(v)?.trim();
  if (s === undefined) return undefined;
  if (s === "never" || s === "none") return null;
  const d = /^(\d{1,6})([mhdw])$/.exec(s);
  if (d) return new Date(now + Number(d[1]) * DURATION_MS[d[2]!]!).toISOString();
  // An ISO date; the service checks its range and that it is in the future.
  if (/^\d{4}-\d{2}-\d{2}/.test(s)) return s;
  throw new UsageError(
    "--expires must be an ISO date (2027-01-31 or 2027-01-31T12:00:00Z), a duration such as 30d, 12h, 2w or 90m, or never",
  );
}

/** The per-key control flags that `keys create` and `keys update` share. */
const KEY_CONTROL_OPTIONS = {
  models: { type: "string", placeholder: "a,b", description: "Only these models (catalogue ids or aliases); all lifts the list" },
  rpm: { type: "string", placeholder: "N|none", description: "The key's own requests per minute (beside its tier's and the endpoint's)" },
  tpm: {
    type: "string",
    placeholder: "N|none",
    description: "The key's own tokens per minute (input estimated before a call, settled after)",
  },
  "max-parallel": { type: "string", placeholder: "N|none", description: "Requests of the key in flight at once, across instances" },
  "budget-period": {
    type: "string",
    placeholder: "day|week|month",
    description: "The period --budget counts over, in UTC (default month)",
  },
  expires: {
    type: "string",
    placeholder: "DATE|30d|never",
    description: "When the key stops working: an ISO date or a duration from now (30d, 12h, 2w)",
  },
} as const;

/**
 * The catalogue in the database, for --models to be checked against: a fresh install whose server
 * never ran has not loaded it yet (the same sync as `db migrate`; safe beside a running server).
 */
async function catalogueForModels(v: Values): Promise<void> {
  if (str(v.models) === undefined) return;
  const { syncCatalogue } = await import("../features/catalogue/models.ts");
  await syncCatalogue({ watch: false });
}

function keyControls(v: Values) {
  return {
    allowedModels: modelsOption(v.models),
    rpmLimit: countOption(v.rpm, "rpm"),
    tpmLimit: countOption(v.tpm, "tpm"),
    maxParallel: countOption(v["max-parallel"], "max-parallel"),
    budgetPeriod: periodOption(v["budget-period"]),
  };
}

/** What a key's own controls are, for the CLI's messages. */
function describeControls(k: {
  allowedModels: string[];
  rpmLimit: number | null;
  tpmLimit: number | null;
  maxParallel: number | null;
  monthlyBudgetUsd: string | null;
  budgetPeriod: string;
  expiresAt: Date | null;
}): string {
  const parts = [
    k.allowedModels.length ? `models ${k.allowedModels.join(",")}` : "",
    k.rpmLimit ? `${k.rpmLimit} rpm` : "",
    k.tpmLimit ? `${k.tpmLimit} tpm` : "",
    k.maxParallel ? `${k.maxParallel} in flight` : "",
    k.monthlyBudgetUsd ? `budget $${k.monthlyBudgetUsd} per ${k.budgetPeriod}` : "",
    k.expiresAt ? `expires ${k.expiresAt.toISOString()}` : "",
  ].filter(Boolean);
  return parts.length ? `; ${parts.join(", ")}` : "";
}

export function table(io: CliIO, rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    io.out(
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    );
}

/** A password from the prompt (the terminal, or stdin's first line), or a usage error when there is no way to ask. */
async function askPassword(io: CliIO): Promise<string> {
  if (!io.readSecret) throw new UsageError("Missing --password. Run `npm run cli -- users create --help` for the options.");
  const password = await io.readSecret("Password (at least 8 characters): ");
  if (!password) throw new UsageError("No password given: type one at the prompt, pipe it on stdin, or pass --password.");
  return password;
}

/** Service errors (AppError) as a one-line message rather than a stack. */
export async function friendly<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const { AppError } = await import("../kernel/errors.ts");
    if (e instanceof AppError && e.status < 500) throw new UsageError(e.message);
    throw e;
  }
}

export const securityCommands: Command[] = [
  {
    name: "users create",
    summary:
      "Create a dashboard account (email + password). With --admin it may see everything and manage every key. On a fresh install, create the first account this way or on the /setup page.",
    options: {
      email: { type: "string", placeholder: "EMAIL", description: "Sign-in email", required: true },
      password: {
        type: "string",
        placeholder: "PASSWORD",
        description: "Password (at least 8 characters); asked for when not given, so that it stays out of the shell's history",
      },
      admin: { type: "boolean", description: "Make the account an admin" },
      budget: {
        type: "string",
        placeholder: "USD",
        description: "Budget in USD across all the user's keys (per month unless --budget-period)",
      },
      "budget-period": {
        type: "string",
        placeholder: "day|week|month",
        description: "The period --budget counts over, in UTC (default month)",
      },
    },
    async run(v: Values, io) {
      const { createUser } = await import("../features/accounts/users.ts");
      const password = str(v.password) === undefined ? await askPassword(io) : "";
      const user = await friendly(() =>
        createUser({
          email: str(v.email)!,
          password: str(v.password) ?? password,
          role: v.admin ? "admin" : "user",
          monthlyBudgetUsd: budgetOption(v.budget),
          budgetPeriod: periodOption(v["budget-period"]),
        }),
      );
      io.out(`Created ${user.role} ${user.email} (id ${user.id}).`);
    },
  },
  {
    name: "users list",
    summary: "List dashboard accounts and platform (JWT) users.",
    options: { json: { type: "boolean", description: "Print JSON" } },
    async run(v: Values, io) {
      const { listUsers } = await import("../features/accounts/users.ts");
      const users = await listUsers();
      if (v.json) {
        io.out(
          JSON.stringify(
            users.map(({ sessions: _sessions, ...u }) => u),
            null,
            2,
          ),
        );
        return;
      }
      if (users.length === 0) {
        io.out("No users yet: npm run cli -- users create --email E --admin (it asks for the password)");
        return;
      }
      table(io, [
        ["ID", "EMAIL / SUBJECT", "ROLE", "BUDGET", "CREATED", "STATE"],
        ...users.map((u) => [
          u.id,
          u.email ?? `jwt:${u.externalId ?? "?"}`,
          u.role,
          u.monthlyBudgetUsd ? `$${u.monthlyBudgetUsd}` : "-",
          u.createdAt.toISOString(),
          u.disabledAt ? "disabled" : "active",
        ]),
      ]);
    },
  },
  {
    name: "users update",
    summary:
      "Change an account's role, monthly budget or password, disable or enable it, or end its sessions. A new password or --disable ends every session.",
    options: {
      email: { type: "string", placeholder: "EMAIL", description: "The account", required: true },
      role: { type: "string", placeholder: "admin|user", description: "New role" },
      budget: {
        type: "string",
        placeholder: "USD|none",
        description: "New budget in USD (per month unless --budget-period); none removes it",
      },
      "budget-period": { type: "string", placeholder: "day|week|month", description: "The period the budget counts over, in UTC" },
      password: { type: "string", placeholder: "PASSWORD", description: "New password" },
      disable: { type: "boolean", description: "Disable the account: no sign-in; its sessions, platform JWTs and API keys are refused" },
      enable: { type: "boolean", description: "Enable a disabled account again" },
      "end-sessions": { type: "boolean", description: "Sign the account out everywhere (every dashboard session ends)" },
    },
    async run(v: Values, io) {
      const { endAllSessions, findUserByEmail, updateUser } = await import("../features/accounts/users.ts");
      const role = str(v.role);
      if (role !== undefined && role !== "admin" && role !== "user") throw new UsageError("--role must be admin or user");
      if (v.disable && v.enable) throw new UsageError("--disable and --enable cannot go together");
      const user = await findUserByEmail(str(v.email)!);
      if (!user) throw new UsageError(`No user with the email ${str(v.email)}`);
      const disabled = v.disable ? true : v.enable ? false : undefined;
      const updated = await friendly(() =>
        updateUser(user.id, {
          role,
          monthlyBudgetUsd: budgetOption(v.budget),
          budgetPeriod: periodOption(v["budget-period"]),
          password: str(v.password),
          disabled,
        }),
      );
      if (v["end-sessions"]) await friendly(() => endAllSessions(user.id, { kind: "cli" }));
      const ended = v["end-sessions"] || disabled === true || str(v.password) !== undefined ? "; every session ended" : "";
      io.out(
        `Updated ${updated.email}: role ${updated.role}, budget ${updated.monthlyBudgetUsd ? `$${updated.monthlyBudgetUsd} per ${updated.budgetPeriod}` : "none"}${updated.disabledAt ? ", disabled" : ""}${ended}.`,
      );
    },
  },
  {
    name: "keys create",
    summary: "Create an API key and print it once (only a hash is stored). Send it as `Authorization: Bearer <key>` or `x-api-key: <key>`.",
    options: {
      name: { type: "string", placeholder: "NAME", description: "What the key is for", required: true },
      tier: { type: "string", placeholder: TIERS.join("|"), description: "Rate-limit tier (default standard)" },
      user: { type: "string", placeholder: "EMAIL", description: "Owner (a dashboard account); usage and budgets count there" },
      team: {
        type: "string",
        placeholder: "TEAM",
        description: "The team (name or id) the key belongs to instead of a user; the team's budget and limit count it too",
      },
      budget: { type: "string", placeholder: "USD", description: "Budget in USD for this key (per month unless --budget-period)" },
      ...KEY_CONTROL_OPTIONS,
      admin: { type: "boolean", description: "An admin key: sees all usage, keys and collections" },
      scopes: {
        type: "string",
        placeholder: "a,b",
        description: "Limit to scopes: generate, embeddings, vectors, usage:read, admin (default: all but admin)",
      },
      "cache-responses": {
        type: "boolean",
        description: "Answer the key's temperature-0 generations from the response cache unless a request says otherwise",
      },
      json: { type: "boolean", description: 'Print {"id": ..., "key": ...} only' },
    },
    async run(v: Values, io) {
      const { CLI_ACTOR } = await import("../access/identity.ts");
      const { createApiKey } = await import("../features/accounts/keys.ts");
      await catalogueForModels(v);
      const scopes = str(v.scopes)
        ?.split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      const { key, apiKey } = await friendly(() =>
        createApiKey(CLI_ACTOR, {
          name: str(v.name)!,
          tier: str(v.tier) as Tier | undefined,
          userEmail: str(v.user),
          team: str(v.team),
          monthlyBudgetUsd: budgetOption(v.budget) ?? undefined,
          ...keyControls(v),
          expiresAt: expiresOption(v.expires) ?? undefined,
          isAdmin: Boolean(v.admin),
          scopes: scopes as never,
          cacheResponses: Boolean(v["cache-responses"]),
        }),
      );
      if (v.json) {
        io.out(JSON.stringify({ id: apiKey.id, key }));
        return;
      }
      io.out(key);
      io.err(
        `Created ${apiKey.isAdmin ? "admin " : ""}key "${apiKey.name}" (id ${apiKey.id}, tier ${apiKey.tier}${apiKey.userEmail ? `, user ${apiKey.userEmail}` : ""}${apiKey.teamName ? `, team ${apiKey.teamName}` : ""}${describeControls(apiKey)}). Copy it now: it is not shown again.`,
      );
    },
  },
  {
    name: "keys list",
    summary: "List API keys by prefix (never the secret), with tier, owner, budget and last use.",
    options: {
      all: { type: "boolean", description: "Include revoked keys" },
      user: { type: "string", placeholder: "EMAIL", description: "Only this user's keys" },
      team: { type: "string", placeholder: "TEAM", description: "Only this team's keys" },
      json: { type: "boolean", description: "Print JSON" },
    },
    async run(v: Values, io) {
      const { CLI_ACTOR } = await import("../access/identity.ts");
      const { listApiKeys } = await import("../features/accounts/keys.ts");
      const keys = await friendly(() =>
        listApiKeys(CLI_ACTOR, { includeRevoked: Boolean(v.all), userEmail: str(v.user), team: str(v.team) }),
      );
      if (v.json) {
        io.out(JSON.stringify(keys, null, 2));
        return;
      }
      if (keys.length === 0) {
        io.out("No API keys. Create one: npm run cli -- keys create --name my-app");
        return;
      }
      table(io, [
        ["ID", "NAME", "KEY", "TIER", "SCOPES", "OWNER", "BUDGET", "LAST USED", "STATE"],
        ...keys.map((k) => [
          k.id,
          k.name,
          `${k.prefix}…`,
          k.tier,
          k.isAdmin ? "admin" : k.scopes.join(",") || "all",
          k.userEmail ?? (k.teamName ? `team ${k.teamName}` : "-"),
          k.monthlyBudgetUsd ? `$${k.monthlyBudgetUsd}/${k.budgetPeriod}` : "-",
          k.lastUsedAt?.toISOString() ?? "never",
          k.revokedAt ? "revoked" : k.expiresAt && k.expiresAt <= new Date() ? "expired" : "active",
        ]),
      ]);
    },
  },
  {
    name: "keys update",
    summary:
      "Change an API key's name, budget, expiry or its own limits (allowed models, requests and tokens per minute, requests in flight); none removes a limit. Every instance sees it within a second.",
    args: [{ name: "id", description: "The key's id (from `keys list`)" }],
    options: {
      name: { type: "string", placeholder: "NAME", description: "A new name" },
      budget: { type: "string", placeholder: "USD|none", description: "New budget in USD; none removes it" },
      ...KEY_CONTROL_OPTIONS,
      json: { type: "boolean", description: "Print the key as JSON" },
    },
    async run(v: Values, io) {
      const { CLI_ACTOR } = await import("../access/identity.ts");
      const { updateApiKey } = await import("../features/accounts/keys.ts");
      await catalogueForModels(v);
      const change = {
        name: str(v.name),
        monthlyBudgetUsd: budgetOption(v.budget),
        ...keyControls(v),
        expiresAt: expiresOption(v.expires),
      };
      if (Object.values(change).every((x) => x === undefined)) {
        throw new UsageError(
          "Nothing to change: give at least one of --name, --budget, --budget-period, --models, --rpm, --tpm, --max-parallel, --expires",
        );
      }
      const key = await friendly(() => updateApiKey(CLI_ACTOR, str(v.id)!, change));
      if (v.json) {
        io.out(JSON.stringify(key, null, 2));
        return;
      }
      io.out(`Updated key "${key.name}" (${key.prefix}…)${describeControls(key)}.`);
    },
  },
  {
    name: "keys revoke",
    summary: "Revoke an API key: it stops working on every instance within a second.",
    args: [{ name: "id", description: "The key's id (from `keys list`)" }],
    async run(v: Values, io) {
      const { CLI_ACTOR } = await import("../access/identity.ts");
      const { revokeApiKey } = await import("../features/accounts/keys.ts");
      const key = await friendly(() => revokeApiKey(CLI_ACTOR, str(v.id)!));
      io.out(`Revoked key "${key.name}" (${key.prefix}…).`);
    },
  },
  {
    name: "keys rotate",
    summary:
      "Replace an API key's secret; the key keeps its id, settings, collections, usage and budget, and the old secret stops working at once. Prints the new key once.",
    args: [{ name: "id", description: "The key's id (from `keys list`)" }],
    options: { json: { type: "boolean", description: 'Print {"id": ..., "key": ...} only' } },
    async run(v: Values, io) {
      const { CLI_ACTOR } = await import("../access/identity.ts");
      const { rotateApiKey } = await import("../features/accounts/keys.ts");
      const { key, apiKey, previousPrefix } = await friendly(() => rotateApiKey(CLI_ACTOR, str(v.id)!));
      if (v.json) {
        io.out(JSON.stringify({ id: apiKey.id, key }));
        return;
      }
      io.out(key);
      io.err(
        `Rotated "${apiKey.name}" (${apiKey.id}): ${previousPrefix}… no longer works, ${apiKey.prefix}… does. Copy the new key now: it is not shown again.`,
      );
    },
  },
];
