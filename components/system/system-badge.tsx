"use client";
// Version (admins) and database kind from `system.info`, with its loading and error states.
import { trpc } from "../shared/trpc-provider";

const DATABASE_LABEL = { pglite: "PGlite", postgres: "PostgreSQL" } as const;

export function SystemBadge() {
  const info = trpc.system.info.useQuery(undefined, { staleTime: 5 * 60_000 });

  if (info.isPending) {
    return (
      <div className="badge" data-state="loading" data-testid="system-badge" role="status">
        <span className="badge-dot" aria-hidden />
        <span>Connecting…</span>
      </div>
    );
  }

  if (info.isError) {
    return (
      <div className="badge" data-state="error" data-testid="system-badge" role="status" title={info.error.message}>
        <span className="badge-dot" aria-hidden />
        <span>Server unreachable</span>
        <button type="button" className="badge-retry" onClick={() => void info.refetch()}>
          Retry
        </button>
      </div>
    );
  }

  const { version, database, vectorBackend } = info.data;
  return (
    <div
      className="badge"
      data-state="ok"
      data-testid="system-badge"
      role="status"
      title={`Vectors: ${vectorBackend} · Rate limits: ${info.data.rateLimitStore}${info.data.nodeVersion ? ` · Node ${info.data.nodeVersion}` : ""}`}
    >
      <span className="badge-dot" aria-hidden />
      {/* Versions are shown to admins only (system.info leaves them out for everyone else). */}
      {version ? (
        <>
          <span className="badge-version">v{version}</span>
          <span className="badge-sep" aria-hidden>
            ·
          </span>
        </>
      ) : null}
      <span className="badge-database" data-testid="database-kind">
        {DATABASE_LABEL[database]}
        {database === "pglite" ? <span className="badge-detail"> (embedded)</span> : null}
      </span>
    </div>
  );
}
