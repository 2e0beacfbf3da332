import "server-only";
// Deployments an admin adds in the dashboard (the models page, tRPC routing.saveDeployment /
// deleteDeployment): each one a file `models:` entry of a model the catalogue has, validated by the
// file's own schema, stored in `model_deployments`, and routed after the file's entries. Every
// instance keeps its copy in step with the table (kernel/table-poll.ts: two seconds), as for the
// providers stored at run time. A deployment's id is unique across the file and the dashboard.
import { getDatabase, getDb, type DatabaseHandle } from "../../db/index.ts";
import { writeAudit, type AuditActorLike } from "../../db/audit.ts";
import { AppError } from "../../kernel/errors.ts";
import { TablePoll } from "../../kernel/table-poll.ts";
import { deploymentEntrySchema, deploymentIdOf, type DeploymentEntry } from "../../providers/config/config-file.ts";
import { currentConfigFile, getProvider } from "../../providers/registry.ts";
import { resolveModel } from "../catalogue/index.ts";
import { setStoredDeployments } from "./deployments.ts";

export { deploymentEntrySchema, type DeploymentEntry };

export type StoredDeployment = { id: string; entry: DeploymentEntry; createdBy: string | null; updatedAt: Date };

type Row = { id: string; entry: unknown; created_by: string | null; updated_at: Date | string };

async function rows(db: Pick<DatabaseHandle, "rawQuery">): Promise<StoredDeployment[]> {
  const found = await db.rawQuery<Row>(`SELECT id, entry, created_by, updated_at FROM model_deployments ORDER BY created_at, id`);
  const out: StoredDeployment[] = [];
  for (const r of found) {
    // A row the schema no longer takes is left out (and shown nowhere), never routed.
    const parsed = deploymentEntrySchema.safeParse(typeof r.entry === "string" ? JSON.parse(r.entry) : r.entry);
    if (parsed.success)
      out.push({ id: r.id, entry: { ...parsed.data, id: r.id }, createdBy: r.created_by, updatedAt: new Date(r.updated_at) });
  }
  return out;
}

const g = globalThis as unknown as { __modelServiceStoredDeployments?: TablePoll<DatabaseHandle> };

/** Starts keeping this instance's dashboard deployments in step with the table (loaded now, then polled). */
export async function startStoredDeployments(intervalMs = 2000): Promise<TablePoll<DatabaseHandle>> {
  if (!g.__modelServiceStoredDeployments) {
    g.__modelServiceStoredDeployments = new TablePoll<DatabaseHandle>(
      getDatabase,
      "model_deployments",
      async (db) => setStoredDeployments((await rows(db)).map((d) => d.entry)),
      (error) =>
        void import("../../kernel/logger.ts").then(({ getLogger }) =>
          getLogger().error({ err: error }, "could not load the dashboard's deployments"),
        ),
      intervalMs,
    ).start();
  }
  await g.__modelServiceStoredDeployments.check();
  return g.__modelServiceStoredDeployments;
}

/** The deployments added in the dashboard, oldest first. */
export async function listStoredDeployments(): Promise<StoredDeployment[]> {
  return rows(await getDatabase());
}

/**
 * Adds or replaces (`replace`: the id being edited) a dashboard deployment; its model must be in
 * the catalogue and its provider configured, and its id not the file's. Applied on this instance at
 * once, on the others within the poll's interval.
 */
export async function saveStoredDeployment(
  input: DeploymentEntry,
  options: { replace?: string; actor: string | null; auditActor?: AuditActorLike },
): Promise<StoredDeployment> {
  const entry = deploymentEntrySchema.parse(input);
  let model;
  try {
    model = resolveModel(entry.model);
  } catch {
    throw new AppError("invalid_request", `model: ${entry.model} is not in the catalogue; add it on the models page first`, {
      field: "model",
    });
  }
  if (!getProvider(entry.provider)) {
    throw new AppError("invalid_request", `provider: ${entry.provider} is not configured (see the Providers page)`, { field: "provider" });
  }
  const normalized: DeploymentEntry = { ...entry, model: model.id };
  const id = deploymentIdOf(normalized);
  if ((currentConfigFile()?.models ?? []).some((m) => deploymentIdOf(m) === id)) {
    throw new AppError("conflict", `A deployment with the id ${id} is declared in the configuration file; give this one another id`, {
      field: "id",
    });
  }
  const db = await getDatabase();
  if (options.replace === undefined || options.replace !== id) {
    const taken = await db.rawQuery<{ id: string }>(`SELECT id FROM model_deployments WHERE id = $1`, [id]);
    if (taken.length > 0)
      throw new AppError("conflict", `A deployment with the id ${id} exists already; give this one another id`, { field: "id" });
  }
  const stored = { ...normalized, id };
  // The change and its audit row in one transaction.
  await (
    await getDb()
  ).$transaction(async (tx) => {
    const q = <T>(sql: string, params: unknown[]) => tx.$queryRawUnsafe<T[]>(sql, ...params);
    const previousId = options.replace ?? id;
    const before = (await q<{ entry: unknown }>(`SELECT entry FROM model_deployments WHERE id = $1`, [previousId]))[0]?.entry ?? null;
    if (options.replace !== undefined && options.replace !== id) {
      await q(`DELETE FROM model_deployments WHERE id = $1`, [options.replace]);
    }
    await q(
      `INSERT INTO model_deployments (id, entry, created_by, updated_at) VALUES ($1, $2::jsonb, $3, now())
       ON CONFLICT (id) DO UPDATE SET entry = EXCLUDED.entry, updated_at = now()`,
      [id, JSON.stringify(stored), options.actor],
    );
    await writeAudit(tx, {
      actor: options.auditActor ?? { kind: "cli" },
      action: "deployment.save",
      target: { kind: "deployment", id },
      before: typeof before === "string" ? (JSON.parse(before) as unknown) : before,
      after: stored,
    });
  });
  await g.__modelServiceStoredDeployments?.check();
  const saved = (await rows(db)).find((d) => d.id === id)!;
  return saved;
}

/** Removes a dashboard deployment (404 when there is none of that id). */
export async function deleteStoredDeployment(id: string, actor: AuditActorLike = { kind: "cli" }): Promise<void> {
  await (
    await getDb()
  ).$transaction(async (tx) => {
    const gone = await tx.$queryRawUnsafe<{ id: string; entry: unknown }[]>(
      `DELETE FROM model_deployments WHERE id = $1 RETURNING id, entry`,
      id,
    );
    if (gone.length === 0) throw new AppError("not_found", `No deployment ${id} was added in the dashboard`);
    const before = gone[0]!.entry;
    await writeAudit(tx, {
      actor,
      action: "deployment.remove",
      target: { kind: "deployment", id },
      before: typeof before === "string" ? (JSON.parse(before) as unknown) : before,
    });
  });
  await g.__modelServiceStoredDeployments?.check();
}
