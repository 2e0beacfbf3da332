import "server-only";
// Who may read the audit log, and which limit counts it: one declaration for GET /v1/admin/audit
// (audit.rest.ts) and the tRPC twin audit.list (audit.router.ts).
import type { AccessPolicy } from "../../access/policy.ts";

/** Admins only: the audit log tells who changed what across every account. */
export const AUDIT_READ_POLICY = { access: "admin" } as const satisfies AccessPolicy;
