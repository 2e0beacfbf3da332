import "server-only";
// GET /v1/admin/audit: the audit log for admins, snake_case, newest first, cursor-paginated
// (`next_cursor`), filtered by actor, action (key.create or key.*), target and since.
import { z } from "zod";
import { auditQuery, listAuditEvents } from "./audit.ts";
import { AUDIT_READ_POLICY } from "./policies.ts";
import { endpoint, route } from "../../http/endpoint.ts";

const auditEventSchema = z.object({
  id: z.string(),
  at: z.string(),
  actor: z.object({ kind: z.string(), id: z.string().nullable(), label: z.string().nullable() }),
  action: z.string(),
  target: z.object({ kind: z.string(), id: z.string().nullable() }),
  before: z.unknown(),
  after: z.unknown(),
});

export const adminAudit = endpoint({
  GET: route({
    ...AUDIT_READ_POLICY,
    doc: {
      summary: "The audit log (admins): who changed what, when, before and after (secrets masked)",
      response: z.object({ events: z.array(auditEventSchema), next_cursor: z.string().nullable() }),
    },
    query: auditQuery,
    handler: async ({ query }) => {
      const page = await listAuditEvents(query);
      return { events: page.events.map((e) => ({ ...e, at: e.at.toISOString() })), next_cursor: page.nextCursor };
    },
  }),
});
