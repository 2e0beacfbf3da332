import "server-only";
// audit.list: the audit page's (and any tRPC client's) read of the audit log, for admins; the twin
// of GET /v1/admin/audit, with the same policy and the same service function.
import { z } from "zod";
import { auditQuery, listAuditEvents } from "./audit.ts";
import { AUDIT_READ_POLICY } from "./policies.ts";
import { createTRPCRouter, procedure } from "../../trpc/init.ts";

const auditEventOutput = z.object({
  id: z.string(),
  at: z.date(),
  actor: z.object({ kind: z.string(), id: z.string().nullable(), label: z.string().nullable() }),
  action: z.string(),
  target: z.object({ kind: z.string(), id: z.string().nullable() }),
  before: z.unknown(),
  after: z.unknown(),
});

export const auditRouter = createTRPCRouter({
  /** A page of the audit log, newest first; pass `nextCursor` back as `cursor` for the next. */
  list: procedure(AUDIT_READ_POLICY)
    .input(auditQuery.optional())
    .output(z.object({ events: z.array(auditEventOutput), nextCursor: z.string().nullable() }))
    .query(({ input }) => listAuditEvents(input ?? {})),
});
