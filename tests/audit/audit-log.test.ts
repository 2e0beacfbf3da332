// The audit log through the HTTP host on PGlite and PostgreSQL: every audited action (keys, users,
// providers, models, budget-alert settings, sign-ins) leaves exactly one row, with who, what and
// before/after, and no secret in it (no key, key hash, provider key, password or webhook secret);
// admins read it over REST (GET /v1/admin/audit, cursor pages and filters) and tRPC (audit.list),
// others get 403; and the table refuses UPDATE, DELETE and TRUNCATE, through the app's own client too.
import { describe, expect, it, beforeAll } from "vitest";
import { createModelServiceClient, type ModelServiceClient } from "@/client/index.ts";
import { CLI_ACTOR } from "@/server/access/auth.ts";
import { hashApiKey } from "@/server/access/key-lookup.ts";
import { signInWithPassword } from "@/server/features/accounts/login-limits.ts";
import { createUser, endAllSessions, updateUser } from "@/server/features/accounts/users.ts";
import { revokeApiKey } from "@/server/features/accounts/keys.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { NO_RATE_LIMITS, useHost } from "@/tests/support/host.ts";

process.env.LOG_LEVEL = "silent";

type Row = {
  id: string;
  actor_kind: string;
  actor_id: string | null;
  actor_label: string | null;
  action: string;
  target_kind: string;
  target_id: string | null;
  before: string | null;
  after: string | null;
};

describe.each(testDatabases())("the audit log on $kind", ({ kind }) => {
  const host = useHost({ database: kind, env: { ...NO_RATE_LIMITS, WEBHOOK_ALLOW_PRIVATE: "127.0.0.1/32" } });
  let admin = "";
  let adminId = "";
  let client: ModelServiceClient;

  beforeAll(async () => {
    const created = await host.createKey({ name: "audit-admin", isAdmin: true });
    admin = created.key;
    adminId = created.apiKey.id;
    client = createModelServiceClient(host.url, { apiKey: admin });
  });

  /** The rows of `action` on `targetId`, oldest first, before/after as JSON text. */
  const rows = (action: string, targetId: string | null) =>
    host.db().rawQuery<Row>(
      `SELECT id::text, actor_kind, actor_id, actor_label, action, target_kind, target_id, before::text, after::text
           FROM audit_events WHERE action = $1 AND target_id IS NOT DISTINCT FROM $2 ORDER BY id`,
      [action, targetId],
    );
  const one = async (action: string, targetId: string | null): Promise<Row> => {
    const found = await rows(action, targetId);
    expect(found, `${action} on ${targetId}`).toHaveLength(1);
    return found[0]!;
  };
  const json = (text: string | null) => (text === null ? null : (JSON.parse(text) as Record<string, unknown>));

  it("keys: create, update, rotate and revoke leave one row each, with no secret or hash", async () => {
    const { key, apiKey } = await client.keys.create.mutate({ name: "audited", monthlyBudgetUsd: "5" });
    const created = await one("key.create", apiKey.id);
    expect(created).toMatchObject({ actor_kind: "api_key", actor_id: adminId, target_kind: "api_key" });
    expect(json(created.after)).toMatchObject({ name: "audited", monthlyBudgetUsd: "5", prefix: apiKey.prefix });
    expect(created.before).toBeNull();

    await client.keys.update.mutate({ id: apiKey.id, change: { rpmLimit: 30, allowedModels: ["gpt-4o-mini"], budgetPeriod: "day" } });
    const updated = await one("key.update", apiKey.id);
    expect(json(updated.before)).toMatchObject({ rpmLimit: null, allowedModels: [], budgetPeriod: "month" });
    expect(json(updated.after)).toMatchObject({ rpmLimit: 30, allowedModels: ["gpt-4o-mini"], budgetPeriod: "day" });

    const rotated = await client.keys.rotate.mutate({ id: apiKey.id });
    const rotation = await one("key.rotate", apiKey.id);
    expect(json(rotation.before)).toEqual({ prefix: apiKey.prefix });
    expect(json(rotation.after)).toEqual({ prefix: rotated.apiKey.prefix });

    await client.keys.revoke.mutate({ id: apiKey.id });
    await revokeApiKey(CLI_ACTOR, apiKey.id); // again: no change, no second row
    const revoked = await one("key.revoke", apiKey.id);
    expect(json(revoked.after)).toMatchObject({ revokedAt: expect.any(String) });

    const all = JSON.stringify(await host.db().rawQuery("SELECT * FROM audit_events WHERE target_id = $1", [apiKey.id]));
    for (const secret of [key, rotated.key, hashApiKey(key), hashApiKey(rotated.key)]) expect(all).not.toContain(secret);
  });

  it("users: create, update, role change and ending sessions leave one row each, never a password or its hash", async () => {
    const password = "correct horse battery";
    const user = await createUser({ email: `audit-${kind}@example.com`, password });
    expect(await one("user.create", user.id)).toMatchObject({ actor_kind: "cli", actor_label: "cli", target_kind: "user" });
    await updateUser(user.id, { monthlyBudgetUsd: "10", budgetPeriod: "week", password: "another long password" });
    const upd = await one("user.update", user.id);
    expect(json(upd.before)).toMatchObject({ monthlyBudgetUsd: null, budgetPeriod: "month" });
    expect(json(upd.after)).toMatchObject({ monthlyBudgetUsd: "10", budgetPeriod: "week", passwordChanged: true });
    await updateUser(user.id, { role: "admin" });
    const role = await one("user.role_change", user.id);
    expect([json(role.before)?.role, json(role.after)?.role]).toEqual(["user", "admin"]);
    await endAllSessions(user.id, CLI_ACTOR);
    await one("user.sessions_end", user.id);

    const [hash] = await host.db().rawQuery<{ password_hash: string }>("SELECT password_hash FROM users WHERE id = $1", [user.id]);
    const all = JSON.stringify(await host.db().rawQuery("SELECT * FROM audit_events WHERE target_id = $1", [user.id]));
    expect(all).not.toContain(password);
    expect(all).not.toContain("another long password");
    expect(all).not.toContain(hash!.password_hash);
    expect(all).not.toMatch(/passwordHash/);
  });

  it("sign-ins: one row for a success and one for a failure, without the password", async () => {
    const email = `signin-${kind}@example.com`;
    const user = await createUser({ email, password: "sign in password" });
    expect(await signInWithPassword(email, "sign in password", "client-a")).not.toBeNull();
    expect(await one("login.success", user.id)).toMatchObject({ actor_kind: "user", actor_id: user.id, actor_label: email });
    expect(await signInWithPassword(email, "wrong password!", "client-a")).toBeNull();
    const failures = (await rows("login.failure", null)).filter((r) => json(r.after)?.email === email);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.after).not.toContain("wrong password!");
  });

  it("providers: save and remove leave one row each, the provider key masked", async () => {
    const apiKeyValue = "sk-audit-provider-key-123456789";
    await client.providers.save.mutate({
      id: `audit-compat-${kind}`,
      provider: { type: "openai-compatible", base_url: "http://127.0.0.1:9/v1", api_key: apiKeyValue },
    });
    const saved = await one("provider.save", `audit-compat-${kind}`);
    expect(json(saved.after)).toMatchObject({ type: "openai-compatible", secrets: "[masked]", secretTail: "[masked]" });
    await client.providers.remove.mutate({ id: `audit-compat-${kind}` });
    const removed = await one("provider.remove", `audit-compat-${kind}`);
    expect(json(removed.before)).toMatchObject({ id: `audit-compat-${kind}` });
    const all = JSON.stringify(await host.db().rawQuery("SELECT * FROM audit_events WHERE target_id = $1", [`audit-compat-${kind}`]));
    expect(all).not.toContain(apiKeyValue);
    expect(all).not.toContain(apiKeyValue.slice(-4));
  });

  it("deployments: saving, editing and removing one leave one row each, with before and after", async () => {
    const id = `audit-dep-${kind}`;
    const entry = { model: "gpt-4o-mini", provider: "openai", provider_model: "gpt-4o-mini", weight: 2, id };
    await client.routing.saveDeployment.mutate({ entry });
    const [added] = await rows("deployment.save", id);
    expect(added!.before).toBeNull();
    expect(json(added!.after)).toMatchObject({ id, model: "gpt-4o-mini", weight: 2 });
    await client.routing.saveDeployment.mutate({ entry: { ...entry, weight: 0 }, replace: id });
    const saves = await rows("deployment.save", id);
    expect(saves).toHaveLength(2);
    expect([json(saves[1]!.before)?.weight, json(saves[1]!.after)?.weight]).toEqual([2, 0]);
    await client.routing.deleteDeployment.mutate({ id });
    expect(json((await one("deployment.remove", id)).before)).toMatchObject({ id, weight: 0 });
    // A removal that finds nothing changes nothing and leaves no row.
    await expect(client.routing.deleteDeployment.mutate({ id })).rejects.toMatchObject({ data: { httpStatus: 404 } });
    await one("deployment.remove", id);
  });

  it("models: a price change and disabling leave one row each, with before and after", async () => {
    await client.models.update.mutate({ id: "gpt-4o-mini", patch: { price: { input: "0.2" } } });
    const price = await one("model.update", "gpt-4o-mini");
    expect(json(price.before)).toMatchObject({ price: { inputPerMTok: "0.15" } });
    expect(json(price.after)).toMatchObject({ price: { inputPerMTok: "0.2" } });
    await client.models.update.mutate({ id: "gpt-4o-mini", patch: { enabled: false } });
    const changes = await rows("model.update", "gpt-4o-mini");
    expect(changes).toHaveLength(2);
    expect([json(changes[1]!.before), json(changes[1]!.after)]).toEqual([{ enabled: true }, { enabled: false }]);
    await client.models.update.mutate({ id: "gpt-4o-mini", patch: { enabled: true, price: { input: "0.15" } } });
  });

  it("budget-alert settings: one row per change, the webhook's signing secret never in it", async () => {
    const user = await createUser({ email: `alerts-${kind}@example.com`, password: "alerts password" });
    const res = await client.budgetAlerts.updateSettings.mutate({
      kind: "user",
      id: user.id,
      patch: { thresholds: [50, 90], webhookUrl: "http://127.0.0.1:9/budget" },
    });
    expect(res.webhookSecret).toMatch(/^whsec_/);
    const row = await one("budget_alerts.update", `user:${user.id}`);
    expect(json(row.after)).toMatchObject({ thresholds: [50, 90], webhookUrl: "http://127.0.0.1:9/budget", signed: true });
    expect(JSON.stringify(row)).not.toContain(res.webhookSecret!);
  });

  it("admins read it over REST and tRPC, newest first, in cursor pages, filtered", async () => {
    const made = [];
    for (let i = 0; i < 3; i++) made.push((await client.keys.create.mutate({ name: `page-${i}` })).apiKey.id);
    const get = async (query: string, key = admin) => {
      const res = await fetch(`${host.url}/v1/admin/audit?${query}`, { headers: { authorization: `Bearer ${key}` } });
      return {
        status: res.status,
        body: (await res.json()) as { events: { id: string; target: { id: string } }[]; next_cursor: string | null },
      };
    };
    const first = await get("action=key.create&limit=2");
    expect(first.status).toBe(200);
    expect(first.body.events.map((e) => e.target.id)).toEqual([made[2], made[1]]);
    expect(first.body.next_cursor).toBe(first.body.events[1]!.id);
    const second = await get(`action=key.*&limit=1&cursor=${first.body.next_cursor}&actor=${adminId}`);
    expect(second.body.events.map((e) => e.target.id)).toEqual([made[0]]);
    const byTarget = await get(`target=${made[1]}`);
    expect(byTarget.body.events).toHaveLength(1);
    expect((await get(`since=${new Date(Date.now() + 60_000).toISOString()}`)).body.events).toEqual([]);
    expect((await get("action=DROP TABLE")).status).toBe(400);

    const page = await client.audit.list.query({ action: "key.create", limit: 2 });
    expect(page.events.map((e) => e.target.id)).toEqual([made[2], made[1]]);
    expect(page.events[0]!.at).toBeInstanceOf(Date);
  });

  it("is admins' only: a user's key gets 403 on REST and tRPC", async () => {
    const { key } = await host.createKey({ name: "not-admin" });
    const rest = await fetch(`${host.url}/v1/admin/audit`, { headers: { authorization: `Bearer ${key}` } });
    expect(rest.status).toBe(403);
    await expect(createModelServiceClient(host.url, { apiKey: key }).audit.list.query()).rejects.toMatchObject({
      data: { httpStatus: 403 },
    });
  });

  it("cannot be changed or removed, not even through the app's own database client", async () => {
    const db = host.db();
    await expect(db.rawQuery("UPDATE audit_events SET action = 'x'")).rejects.toThrow(/append-only/);
    await expect(db.rawQuery("DELETE FROM audit_events")).rejects.toThrow(/append-only/);
    await expect(db.rawQuery("TRUNCATE audit_events")).rejects.toThrow(/append-only/);
    await expect(db.prisma.auditEvent.deleteMany({})).rejects.toThrow(/append-only/);
    await expect(db.prisma.auditEvent.updateMany({ data: { action: "x" } })).rejects.toThrow(/append-only/);
    expect(Number((await db.rawQuery<{ n: string }>("SELECT count(*)::text AS n FROM audit_events"))[0]!.n)).toBeGreaterThan(0);
  });
});
