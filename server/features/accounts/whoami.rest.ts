import "server-only";
// GET /v1/auth/whoami: the caller as the gateway sees them (cheap; counts against the default
// rate limit like any other endpoint). Handy to check a key, a JWT or a session.
import { budgetStates } from "../budgets/index.ts";
import { endpoint, route } from "../../http/endpoint.ts";

export const whoami = endpoint({
  GET: route({
    access: "user",
    doc: { summary: "Who the caller is: kind, user, key, role, tier, scopes, budgets" },
    handler: async ({ identity }) => ({
      kind: identity.kind,
      user_id: identity.userId,
      api_key_id: identity.apiKeyId,
      role: identity.role,
      tier: identity.tier,
      scopes: identity.scopes,
      budgets: (await budgetStates(identity)).map((b) => ({
        scope: b.scope,
        period: b.period,
        budget_usd: b.budgetUsd,
        spent_usd: b.spentUsd,
        exceeded: b.exceeded,
      })),
    }),
  }),
});
