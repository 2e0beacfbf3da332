import "server-only";
// Providers an admin configures at run time (the dashboard, tRPC `providers.*`): several of one
// type side by side, each under an id. Their settings are stored as they are; their secrets (API
// keys, AWS secret keys and session tokens, and extra headers, which may carry a key) as one AES-256-GCM box, under a key derived (HKDF-SHA256)
// from SECRETS_KEY, or, when unset, from a key generated into DATA_DIR/secrets-key on first use (as
// AUTH_SECRET is). A saved secret is never returned: listings show only a masked tail. Every
// instance polls the table (a few ids and timestamps) and rebuilds its run-time providers when it
// changes, so a change reaches all of them within seconds, without a restart.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { loadEnv } from "../../kernel/env.ts";
import { TablePoll } from "../../kernel/table-poll.ts";
import { parseConfigFile, providersFromConfig, type ProviderConfig } from "../config/config-file.ts";
import type { Provider } from "../types.ts";

/** The fields of each type that are secrets (boxed); everything else is a plain setting. */
/** What the store needs of the database handle (server/db). */
export type DatabaseHandle = { rawQuery<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> };

const SECRET_FIELDS = ["api_key", "secret_access_key", "session_token", "headers"] as const;
type SecretField = (typeof SECRET_FIELDS)[number];

/**
 * The opened box as configuration fields: `headers` are boxed too (a header may carry a key, e.g.
 * an Authorization or x-api-key of a gateway in front), as their JSON; the rest are strings.
 */
function secretFields(secrets: Record<string, string>): Record<string, unknown> {
  const { headers, ...rest } = secrets;
  return headers === undefined ? rest : { ...rest, headers: JSON.parse(headers) as Record<string, string> };
}

export class CredentialError extends Error {
  constructor(
    message: string,
    readonly code: "invalid" | "conflict" | "not_found",
  ) {
    super(message);
    this.name = "CredentialError";
  }
}

// ---------------------------------------------------------------------------------------------
// The key and the box

const g = globalThis as unknown as { __modelServiceSecretsKey?: Buffer };

function secretsKeyMaterial(): string {
  const env = loadEnv();
  if (env.SECRETS_KEY) return env.SECRETS_KEY;
  const file = path.join(env.dataDir, "secrets-key");
  mkdirSync(path.dirname(file), { recursive: true });
  try {
    writeFileSync(file, `${randomBytes(32).toString("base64url")}\n`, { flag: "wx", mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  chmodSync(file, 0o600);
  const material = readFileSync(file, "utf8").trim();
  if (!material)
    throw new Error(`${file} is empty: set SECRETS_KEY, or restore the file (the stored provider keys cannot be read without it)`);
  return material;
}

/** The 32-byte AES key (derived once per process). */
function boxKey(): Buffer {
  g.__modelServiceSecretsKey ??= Buffer.from(
    hkdfSync("sha256", secretsKeyMaterial(), "model-service", "provider-credentials aes-256-gcm v1", 32),
  );
  return g.__modelServiceSecretsKey;
}

/** "v1:" + base64url(iv ‖ tag ‖ ciphertext); the provider id is the associated data (a box cannot be moved to another row). */
export function sealSecrets(id: string, secrets: Record<string, string>): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", boxKey(), iv);
  cipher.setAAD(Buffer.from(id, "utf8"));
  const ct = Buffer.concat([cipher.update(JSON.stringify(secrets), "utf8"), cipher.final()]);
  return `v1:${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString("base64url")}`;
}

export function openSecrets(id: string, box: string): Record<string, string> {
  if (!box.startsWith("v1:")) throw new Error(`the stored secrets of provider ${id} are not in a known format`);
  const raw = Buffer.from(box.slice(3), "base64url");
  const decipher = createDecipheriv("aes-256-gcm", boxKey(), raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(id, "utf8"));
  decipher.setAuthTag(raw.subarray(12, 28));
  try {
    return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8")) as Record<string, string>;
  } catch {
    throw new Error(`the stored secrets of provider ${id} cannot be decrypted with this SECRETS_KEY`);
  }
}

/** The last 4 characters of the main secret, masked ("…wxyz"), or "" when there is none. */
export function maskedTail(secrets: Record<string, string>): string {
  const main = secrets.api_key ?? secrets.secret_access_key ?? "";
  return main.length >= 8 ? `…${main.slice(-4)}` : main ? "…" : "";
}

// ---------------------------------------------------------------------------------------------
// The store

export const credentialInputSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, { error: "a lowercase id such as azure-east" }),
  /** The provider as the configuration file describes one (type and snake_case fields). */
  provider: z.record(z.string(), z.unknown()),
});

export type CredentialSummary = {
  id: string;
  type: string;
  /** The settings without any secret. */
  settings: Record<string, unknown>;
  /** Which secret fields are set, and the main one's masked tail. */
  secrets: string[];
  secretTail: string;
  updatedAt: string;
};

type Row = { id: string; type: string; settings: unknown; secret: string; secret_tail: string; updated_at: Date | string };

/** Validates a provider description with the configuration file's own schema (one-line errors). */
function validate(id: string, provider: Record<string, unknown>): ProviderConfig {
  try {
    const config = parseConfigFile("the provider", JSON.stringify({ providers: { [id]: provider } }), {});
    return config.providers[id]!;
  } catch (error) {
    throw new CredentialError(
      (error as Error).message.replace(/^Invalid configuration file the provider: providers\.[^.:]+\.?/, "").replace(/^: /, ""),
      "invalid",
    );
  }
}

/**
 * Saves (creates or replaces) a run-time provider. A secret field left out keeps its stored value,
 * so an edit of the settings does not need the key again. `reserved` are the ids it cannot take
 * (built-in, environment and file providers).
 */
export async function saveCredential(
  db: DatabaseHandle,
  input: { id: string; provider: Record<string, unknown> },
  reserved: ReadonlySet<string>,
): Promise<CredentialSummary> {
  const parsed = credentialInputSchema.safeParse(input);
  if (!parsed.success) {
    // A bad id or body is the caller's to fix (400), not an internal error.
    const issue = parsed.error.issues[0];
    throw new CredentialError(`${issue?.path.join(".") || "provider"}: ${issue?.message ?? "invalid"}`, "invalid");
  }
  const { id, provider } = parsed.data;
  if (reserved.has(id))
    throw new CredentialError(`The provider id "${id}" is taken by a provider of the environment or the configuration file`, "conflict");
  const existing = (
    await db.rawQuery<Row>(`SELECT id, type, settings, secret, secret_tail, updated_at FROM provider_credentials WHERE id = $1`, [id])
  )[0];
  const kept = existing ? secretFields(openSecrets(id, existing.secret)) : {};
  const merged: Record<string, unknown> = { ...(existing && existing.type === provider.type ? kept : {}), ...provider };
  const config = validate(id, merged);
  const secrets: Record<string, string> = {};
  const settings: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    if ((SECRET_FIELDS as readonly string[]).includes(k)) secrets[k as SecretField] = k === "headers" ? JSON.stringify(v) : String(v);
    else settings[k] = v;
  }
  const rows = await db.rawQuery<Row>(
    `INSERT INTO provider_credentials (id, type, settings, secret, secret_tail, created_at, updated_at)
     VALUES ($1, $2, $3::jsonb, $4, $5, now(), clock_timestamp())
     ON CONFLICT (id) DO UPDATE SET type = EXCLUDED.type, settings = EXCLUDED.settings, secret = EXCLUDED.secret,
       secret_tail = EXCLUDED.secret_tail, updated_at = clock_timestamp()
     RETURNING id, type, settings, secret, secret_tail, updated_at`,
    [id, config.type, JSON.stringify(settings), sealSecrets(id, secrets), maskedTail(secrets)],
  );
  return summary(rows[0]!);
}

export async function deleteCredential(db: DatabaseHandle, id: string): Promise<void> {
  const rows = await db.rawQuery<{ id: string }>(`DELETE FROM provider_credentials WHERE id = $1 RETURNING id`, [id]);
  if (rows.length === 0) throw new CredentialError(`There is no run-time provider "${id}"`, "not_found");
}

export async function listCredentials(db: DatabaseHandle): Promise<CredentialSummary[]> {
  return (await db.rawQuery<Row>(`SELECT id, type, settings, secret, secret_tail, updated_at FROM provider_credentials ORDER BY id`)).map(
    summary,
  );
}

function summary(row: Row): CredentialSummary {
  const secrets = Object.keys(openSecrets(row.id, row.secret)).sort();
  return {
    id: row.id,
    type: row.type,
    settings: (typeof row.settings === "string" ? JSON.parse(row.settings) : row.settings) as Record<string, unknown>,
    secrets,
    secretTail: row.secret_tail,
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

/** Every stored provider, its secrets opened, as the configuration file's provider objects. */
async function loadAll(db: DatabaseHandle): Promise<Provider[]> {
  const rows = await db.rawQuery<Row>(`SELECT id, type, settings, secret, secret_tail, updated_at FROM provider_credentials ORDER BY id`);
  const providers: Record<string, ProviderConfig> = {};
  for (const row of rows) {
    const settings = (typeof row.settings === "string" ? JSON.parse(row.settings) : row.settings) as Record<string, unknown>;
    providers[row.id] = { ...settings, ...secretFields(openSecrets(row.id, row.secret)), type: row.type } as ProviderConfig;
  }
  return providersFromConfig({ path: "dashboard", providers, models: [], missing: {} });
}

// ---------------------------------------------------------------------------------------------
// Keeping an instance's providers in step with the table

export type CredentialSyncTarget = {
  /** Replaces the run-time providers from the table by these (the ids of the last set are dropped first). */
  replace(providers: Provider[]): void;
};

/** Polls the table every `intervalMs` (kernel/table-poll.ts); on a change, reloads every stored provider. */
export class CredentialSync extends TablePoll<DatabaseHandle> {
  constructor(
    database: () => Promise<DatabaseHandle>,
    target: CredentialSyncTarget,
    onError: (error: unknown) => void = () => {},
    intervalMs = 2000,
  ) {
    super(database, "provider_credentials", async (db) => target.replace(await loadAll(db)), onError, intervalMs);
  }
}
