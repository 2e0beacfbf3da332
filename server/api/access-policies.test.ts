// A REST route and the tRPC procedure that calls the same service function declare one access
// policy (access level, scope, rate limit, body limit): read from the routes' and procedures'
// own declarations (route({...}) and procedure(policy)), as the wrappers enforce them.
import { describe, expect, it } from "vitest";
import type { AccessPolicy } from "../access/policy.ts";
import { endpointMeta } from "../http/endpoint.ts";
import type { ProcedureMeta } from "../trpc/init.ts";
import { leanRoutes } from "./routes.ts";
import { appRouter } from "./trpc-root.ts";

/** REST routes ("METHOD /pattern") and the tRPC procedures that do the same. */
const TWINS: { rest: string[]; trpc: string[] }[] = [
  // The native route and the OpenAI and Anthropic protocol surfaces all generate through the one service.
  { rest: ["POST /v1/llm/generate", "POST /v1/chat/completions", "POST /v1/messages"], trpc: ["generation.generate", "generation.stream"] },
  { rest: ["POST /v1/llm/generate-embeddings", "POST /v1/embeddings"], trpc: ["embeddings.generate"] },
  { rest: ["GET /v1/llm/usage", "GET /v1/llm/embedding-usage"], trpc: ["usage.stats"] },
  { rest: ["GET /v1/llm/savings"], trpc: ["usage.savings"] },
  { rest: ["GET /v1/llm/requests"], trpc: ["usage.recent"] },
  { rest: ["GET /v1/llm/requests/:id"], trpc: ["usage.request"] },
  { rest: ["GET /v1/llm/sessions/:id"], trpc: ["usage.session"] },
  { rest: ["POST /v1/llm/cost"], trpc: ["usage.calculateCost"] },
  { rest: ["GET /v1/auth/whoami"], trpc: ["auth.me"] },
  { rest: ["GET /v1/admin/audit"], trpc: ["audit.list"] },
  { rest: ["GET /v1/teams"], trpc: ["teams.list"] },
  { rest: ["POST /v1/teams"], trpc: ["teams.create"] },
  { rest: ["GET /v1/teams/:team"], trpc: ["teams.get"] },
  { rest: ["PATCH /v1/teams/:team"], trpc: ["teams.update"] },
  { rest: ["POST /v1/teams/:team/members"], trpc: ["teams.addMember"] },
  { rest: ["DELETE /v1/teams/:team/members/:email"], trpc: ["teams.removeMember"] },
  { rest: ["GET /v1/llm/models", "GET /api/v1/models", "GET /v1/models"], trpc: ["models.list"] },
  { rest: ["GET /v1/models/:id"], trpc: ["models.get"] },
  { rest: ["GET /v1/vector/collections"], trpc: ["vectors.list"] },
  { rest: ["POST /v1/vector/collections"], trpc: ["vectors.create"] },
  { rest: ["GET /v1/vector/collections/:name"], trpc: ["vectors.get"] },
  { rest: ["DELETE /v1/vector/collections/:name"], trpc: ["vectors.delete"] },
  { rest: ["POST /v1/vector/points"], trpc: ["vectors.upsert"] },
  { rest: ["DELETE /v1/vector/points"], trpc: ["vectors.deletePoints"] },
  // searchText embeds the text first, then searches as vectors.search does: the same limit.
  { rest: ["POST /v1/vector/search"], trpc: ["vectors.search", "vectors.searchText"] },
  { rest: ["POST /v1/vector/documents"], trpc: ["vectors.upsertDocuments"] },
];

/** REST routes with no tRPC twin, and why. */
const REST_ONLY: Record<string, string> = {
  "GET /health": "public by contract; system.health is the admin's fuller report for the dashboard",
  "GET /ping": "liveness",
  "GET /metrics": "Prometheus text, for a scraper",
  "GET /v1/openapi.json": "describes the REST API",
  "GET /v1/llm/requests/export":
    "a streamed file (CSV or JSON lines, any number of pages) that a tRPC answer, one JSON document, cannot be; the Requests page's buttons download it with the session cookie, and it reads the list by usage.recent's feature code (recentRequests)",
};

function restPolicies(): Map<string, AccessPolicy> {
  const out = new Map<string, AccessPolicy>();
  for (const r of leanRoutes) {
    for (const [method, meta] of Object.entries(endpointMeta(r.handlers)?.methods ?? {})) out.set(`${method} ${r.pattern}`, meta);
  }
  return out;
}

function trpcPolicies(): Map<string, AccessPolicy> {
  const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { meta?: ProcedureMeta } }>;
  return new Map(Object.entries(procedures).map(([name, p]) => [name, p._def.meta?.policy ?? { access: "public" }]));
}

/** What the wrappers enforce: no rate limit named is the default one. */
const enforced = (p: AccessPolicy) => ({
  access: p.access,
  scope: p.scope ?? null,
  rateLimit: p.rateLimit ?? "default",
  maxBodyBytes: p.maxBodyBytes ?? "MAX_BODY_BYTES",
});

describe("REST routes and their tRPC twins", () => {
  const rest = restPolicies();
  const trpc = trpcPolicies();

  it("every REST route is either some procedure's twin or listed as REST-only", () => {
    const twinned = new Set(TWINS.flatMap((t) => t.rest));
    const unlisted = [...rest.keys()].filter((k) => !twinned.has(k) && !(k in REST_ONLY));
    expect(unlisted, "add each to TWINS (with its procedures) or to REST_ONLY (with the reason)").toEqual([]);
    for (const t of TWINS) {
      for (const k of t.rest) expect(rest.has(k), `${k} is not a REST route`).toBe(true);
      for (const k of t.trpc) expect(trpc.has(k), `${k} is not a tRPC procedure`).toBe(true);
    }
    for (const k of Object.keys(REST_ONLY)) expect(rest.has(k), `${k} is not a REST route`).toBe(true);
  });

  it.each(TWINS.map((t) => [t.rest[0]!, t] as const))("%s and its twins declare one access policy", (_name, t) => {
    const policies = [...t.rest.map((k) => [k, rest.get(k)!] as const), ...t.trpc.map((k) => [k, trpc.get(k)!] as const)];
    const [first, ...others] = policies;
    for (const [name, policy] of others) expect(enforced(policy), `${name} against ${first![0]}`).toEqual(enforced(first![1]));
  });
});
