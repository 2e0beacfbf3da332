import "server-only";
import { authenticate } from "../../access/auth.ts";
import { healthHttpStatus, healthReport } from "./system.ts";
import { clientAddressFrom } from "../../access/client-address.ts";
import { endpoint, json, route } from "../../http/endpoint.ts";

/**
 * GET /health: each dependency's state; 503 while shutting down or without the database, else 200
 * (`degraded` when Redis fails: the service falls back). Open to anyone; an admin's credential adds
 * the version and the dependencies' error text. A credential that does not check out (or cannot be
 * checked: the database is down) only means the public report, never a failed health check.
 */
export const health = endpoint({
  GET: route({
    access: "public",
    doc: {
      summary:
        "Each dependency's state; 503 while shutting down or without the database (Redis and vectors never make it 503); admins also see versions and error text",
    },
    handler: async ({ req }) => {
      const admin = await authenticate(req.headers, { clientAddress: clientAddressFrom(req.headers) ?? undefined }).then(
        (identity) => identity.kind !== "anonymous" && identity.role === "admin",
        () => false,
      );
      const report = await healthReport({ admin });
      return json(report, { status: healthHttpStatus(report), headers: { "Cache-Control": "no-store" } });
    },
  }),
});

/** GET /ping: liveness, with no dependency involved. */
export const ping = endpoint({
  GET: route({
    access: "public",
    doc: { summary: 'Liveness: {status: "ok", message: "pong"}' },
    handler: async () => json({ status: "ok", message: "pong" }, { headers: { "Cache-Control": "no-store" } }),
  }),
});
