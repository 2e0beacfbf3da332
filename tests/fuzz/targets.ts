// Everything the fuzz suite calls, found rather than listed: each REST route of the lean route
// table with each method it declares (and its body and query schemas), and each tRPC procedure of
// the root router (its type, input schema and access policy). A new route or procedure is fuzzed
// without touching this suite.
import type { z } from "zod";
import type { AccessPolicy } from "@/server/access/policy.ts";
import { endpointMeta, type DeclaredMethod } from "@/server/http/endpoint.ts";
import { leanRoutes } from "@/server/api/routes.ts";
import type { ProcedureMeta } from "@/server/trpc/init.ts";
import { appRouter } from "@/server/api/trpc-root.ts";

export type RestTarget = {
  kind: "rest";
  method: DeclaredMethod;
  /** `/v1/vector/collections/:name` */
  pattern: string;
  body?: z.ZodType;
  query?: z.ZodType;
  policy: AccessPolicy;
};

export type TrpcTarget = {
  kind: "trpc";
  path: string;
  type: "query" | "mutation" | "subscription";
  input?: z.ZodType;
  policy: AccessPolicy;
};

export type Target = RestTarget | TrpcTarget;

export function restTargets(): RestTarget[] {
  const out: RestTarget[] = [];
  for (const route of leanRoutes) {
    const meta = endpointMeta(route.handlers);
    // The tRPC endpoint is fuzzed per procedure (below).
    if (!meta) continue;
    for (const [method, m] of Object.entries(meta.methods) as [DeclaredMethod, NonNullable<(typeof meta.methods)[DeclaredMethod]>][]) {
      out.push({ kind: "rest", method, pattern: route.pattern, body: m.body, query: m.query, policy: m });
    }
  }
  return out;
}

type AnyProcedure = { _def: { type: "query" | "mutation" | "subscription"; inputs: z.ZodType[]; meta?: ProcedureMeta } };

export function trpcTargets(): TrpcTarget[] {
  const procedures = appRouter._def.procedures as unknown as Record<string, AnyProcedure>;
  return Object.entries(procedures).map(([path, p]) => ({
    kind: "trpc",
    path,
    type: p._def.type,
    input: p._def.inputs[0],
    policy: p._def.meta?.policy ?? { access: "public" },
  }));
}

export function describeTarget(t: Target): string {
  return t.kind === "rest" ? `${t.method} ${t.pattern}` : `tRPC ${t.path}`;
}
