import "server-only";
// The providers as an admin sees them (the dashboard's Providers page, tRPC `providers.*`): each
// with its type, where it was configured, its status, its last error, and a connection test.
// The run-time ones (stored by the dashboard) also carry their settings and the masked tail of
// their key; a stored secret is never read back out (credentials.ts).
import { getDatabase, getDb } from "../../db/index.ts";
import { writeAudit, type AuditActorLike } from "../../db/audit.ts";
import { AppError } from "../../kernel/errors.ts";
import { getLogger } from "../../kernel/logger.ts";
import {
  CredentialError,
  deleteCredential,
  listCredentials,
  saveCredential,
  type CredentialSummary,
} from "../../providers/credentials/credentials.ts";
import { lastProviderError, type LastProviderError } from "../../providers/last-errors.ts";
import {
  getProvider,
  listProviders,
  providerSource,
  providerType,
  reservedProviderIds,
  startRuntimeProviders,
} from "../../providers/registry.ts";
import { ProviderError } from "../../providers/types.ts";

/** How long a connection test may take. */
export const CONNECTION_TEST_TIMEOUT_MS = 10_000;

export type ProviderView = {
  id: string;
  name: string;
  type: string;
  source: "environment" | "file" | "dashboard";
  available: boolean;
  reason: string | null;
  /** The provider's last failure seen by this instance (no secret in it), or null. */
  lastError: LastProviderError | null;
  /** Run-time providers: the settings (no secret), which secrets are set and the main one's masked tail. */
  stored: Omit<CredentialSummary, "id"> | null;
};

export async function listProviderViews(): Promise<ProviderView[]> {
  const stored = new Map((await listCredentials(await getDatabase())).map((c) => [c.id, c]));
  return listProviders().map((p) => {
    const status = p.status();
    const s = stored.get(p.id);
    const source = providerSource(p.id) ?? "environment";
    const last = lastProviderError(p.id);
    return {
      id: p.id,
      name: p.name,
      type: (source === "dashboard" ? s?.type : undefined) ?? providerType(p.id) ?? "openai-compatible",
      source,
      available: status.available,
      reason: status.available ? null : status.reason,
      lastError: last ? { ...last } : null,
      stored: s ? { type: s.type, settings: s.settings, secrets: s.secrets, secretTail: s.secretTail, updatedAt: s.updatedAt } : null,
    };
  });
}

export type ConnectionTest = {
  id: string;
  ok: boolean;
  /** From the call's start to its answer (or failure). */
  latencyMs: number;
  error: { kind: ProviderError["kind"] | "unexpected"; message: string } | null;
  testedAt: Date;
};

/**
 * Makes the provider's cheapest real call (`Provider.testConnection`: a model list or the like)
 * within `timeoutMs`, and says whether it answered and how fast. A failure is an answer, not a
 * thrown error; only an unknown id throws (not_found).
 */
export async function testProviderConnection(id: string, timeoutMs = CONNECTION_TEST_TIMEOUT_MS): Promise<ConnectionTest> {
  const provider = getProvider(id);
  if (!provider) throw new AppError("not_found", `There is no provider "${id}"`);
  const testedAt = new Date();
  const started = performance.now();
  const took = () => Math.round(performance.now() - started);
  try {
    if (!provider.testConnection) throw new ProviderError(`${provider.name} has no connection test`, "unavailable", undefined, false);
    const signal = AbortSignal.timeout(timeoutMs);
    const call = provider.testConnection({ signal });
    // The deadline holds even where an SDK does not watch the signal at every step (Google's
    // default credentials look for a metadata server before any request): the call's own late
    // failure is then dropped.
    call.catch(() => {});
    await Promise.race([
      call,
      new Promise<never>((_, reject) =>
        signal.addEventListener(
          "abort",
          () => reject(new ProviderError(`${provider.name} did not answer within ${timeoutMs} ms`, "timeout", undefined, true)),
          { once: true },
        ),
      ),
    ]);
    return { id, ok: true, latencyMs: took(), error: null, testedAt };
  } catch (error) {
    const latencyMs = took();
    if (error instanceof ProviderError) return { id, ok: false, latencyMs, error: { kind: error.kind, message: error.message }, testedAt };
    // Not a provider failure as the adapters describe them: logged, and answered without its text (it could hold anything).
    getLogger().error({ err: error, provider: id }, "provider connection test failed unexpectedly");
    return {
      id,
      ok: false,
      latencyMs,
      error: { kind: "unexpected", message: `${provider.name}: the test failed unexpectedly (see the server log)` },
      testedAt,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Run-time providers, changed by an admin (providers.save / providers.remove), each change and its
// audit row in one transaction. The audit rows hold the stored summary (type and settings; the
// secrets' names and tail are masked like every secret).

/** A transaction's raw queries in the shape the credential store takes. */
function rawQueriesOf(tx: { $queryRawUnsafe<T = unknown>(sql: string, ...values: unknown[]): Promise<T> }) {
  return { rawQuery: <T>(sql: string, params: unknown[] = []) => tx.$queryRawUnsafe<T[]>(sql, ...params) };
}

function credentialFailure(error: unknown): never {
  if (error instanceof CredentialError) throw new AppError(error.code === "invalid" ? "invalid_request" : error.code, error.message);
  throw error;
}

/** Adds or replaces a run-time provider; this instance uses it at once, the others on their next poll. */
export async function saveProvider(actor: AuditActorLike, input: { id: string; provider: Record<string, unknown> }): Promise<void> {
  await (
    await getDb()
  )
    .$transaction(async (tx) => {
      const store = rawQueriesOf(tx);
      const before = (await listCredentials(store)).find((c) => c.id === input.id) ?? null;
      const after = await saveCredential(store, input, reservedProviderIds());
      await writeAudit(tx, { actor, action: "provider.save", target: { kind: "provider", id: input.id }, before, after });
    })
    .catch(credentialFailure);
  await (await startRuntimeProviders(getDatabase)).check();
}

/** Removes a run-time provider (404 when there is none by that id). */
export async function removeProvider(actor: AuditActorLike, id: string): Promise<void> {
  await (
    await getDb()
  )
    .$transaction(async (tx) => {
      const store = rawQueriesOf(tx);
      const before = (await listCredentials(store)).find((c) => c.id === id) ?? null;
      await deleteCredential(store, id);
      await writeAudit(tx, { actor, action: "provider.remove", target: { kind: "provider", id }, before });
    })
    .catch(credentialFailure);
  await (await startRuntimeProviders(getDatabase)).check();
}
