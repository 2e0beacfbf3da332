import "server-only";
// Who may read usage: one declaration that the REST routes (usage.rest.ts, savings.rest.ts) and the
// tRPC procedures (usage.router.ts) both spread.
import type { AccessPolicy } from "../../access/policy.ts";

/** Statistics, recent requests, CSV, savings: the caller's own usage (an admin's: anyone's). */
export const USAGE_READ_POLICY = { access: "user", scope: "usage:read" } as const satisfies AccessPolicy;

/** The cost calculator: any caller, no scope (it reads only prices). */
export const COST_POLICY = { access: "user" } as const satisfies AccessPolicy;
