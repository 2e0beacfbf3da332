import "server-only";
// Who may read the audit log, and which limit counts it: one declaration for GET /v1/admin/audit
// (audit.rest.ts) and the tRPC twin audit.list (audit.router.ts).
import type { AccessPolicy } from "../../access/policy.ts";

/** Admins only: the audit log tells who changed what across every account. */
export const AUDIT_READ_POLICY = { access: "admin" } as const satisfies AccessPolicy;

/**
 * Any signed-in caller (an API key with `usage:read`): what each may see or change in a team is
 * the team access policy (server/access/teams.ts), which the service applies.
 */
export const TEAM_READ_POLICY = { access: "user", scope: "usage:read" } as const satisfies AccessPolicy;
/** Changing teams: sessions, JWTs and admin keys; the service refuses a non-admin key as it does for keys. */
export const TEAM_WRITE_POLICY = { access: "user" } as const satisfies AccessPolicy;
