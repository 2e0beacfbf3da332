// The API reference's examples (server/api/examples.json) are real: every operation's example
// request is sent to our host in-process (providers on the emulator, an admin key), in an order
// that makes each one meaningful (a collection before its points), and must answer 200 with an
// answer of the example's shape (the same fields, of the same types, all the way down; arrays by
// their first element). `RECORD_EXAMPLES=1` writes the answers as the new examples (long arrays
// shortened, ids and times as the run made them).
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openApiDocument } from "@/server/api/openapi.ts";
import { leanRoutes } from "@/server/api/routes.ts";
import { EXAMPLE_ORDER, type ApiExample } from "@/server/api/examples.ts";
import { createUser } from "@/server/features/accounts/users.ts";
import { useHost } from "@/tests/support/host.ts";

const file = path.resolve("server/api/examples.json");
const recorded = JSON.parse(readFileSync(file, "utf8")) as Record<string, ApiExample>;
const record = process.env.RECORD_EXAMPLES === "1";

/** A value's shape: the type of each field, recursively; an array by its first element. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
  if (v === null) return "null";
  if (typeof v === "object")
    return Object.fromEntries(
      Object.entries(v as object)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, x]) => [k, shape(x)]),
    );
  return typeof v;
}

/** An answer made readable as an example: arrays of more than 4 items cut to 3 (an embedding's numbers, a list's rows). */
function shorten(v: unknown): unknown {
  if (Array.isArray(v)) return (v.length > 4 ? v.slice(0, 3) : v).map(shorten);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, shorten(x)]));
  return v;
}

/** A parameter that names something this run made: `$first-request` is the newest request of the list before. */
function resolve(value: string, answers: Record<string, unknown>): string {
  if (value !== "$first-request") return value;
  const list = answers.getV1LlmRequests as { items?: { id: string }[] } | undefined;
  return list?.items?.[0]?.id ?? "";
}

describe("the API reference's examples", () => {
  const host = useHost({ env: { RATE_LIMIT_REQUESTS: "10000" } });
  const doc = openApiDocument(leanRoutes);
  const operations = Object.entries(doc.paths).flatMap(([p, item]) =>
    Object.entries(item as Record<string, { operationId: string; responses: Record<string, { content?: Record<string, unknown> }> }>)
      .filter(([m]) => m !== "head")
      .map(([method, op]) => ({ path: p, method, id: op.operationId, json: Boolean(op.responses["200"]?.content?.["application/json"]) })),
  );

  it("names every operation once in its order", () => {
    expect([...EXAMPLE_ORDER].sort()).toEqual(operations.map((o) => o.id).sort());
  });

  it("each example request answers 200 with an answer of its example's shape", async () => {
    const { key } = await host.createKey({ name: "examples", isAdmin: true, tier: "premium" });
    await createUser({ email: "ann@example.com", password: "ann-password-1234" }); // the teams' example member
    const out: Record<string, ApiExample> = {};
    const answers: Record<string, unknown> = {};
    for (const id of EXAMPLE_ORDER) {
      const op = operations.find((o) => o.id === id)!;
      const example = recorded[id] ?? { request: {} };
      if (id === "getV1LlmUsage") await host.flush(); // the usage so far, in the database
      const request = example.request ?? {};
      const target = op.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(resolve(request.params?.[name] ?? "", answers)));
      const res = await fetch(`${host.url}${target}${request.query ? `?${request.query}` : ""}`, {
        method: op.method.toUpperCase(),
        headers: {
          authorization: `Bearer ${key}`,
          ...request.headers,
          ...(request.body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
      });
      const text = await res.text();
      expect(res.status, `${id}: ${text.slice(0, 300)}`).toBe(200);
      if (!op.json || id === "getV1OpenapiJson" || !res.headers.get("content-type")?.startsWith("application/json")) {
        out[id] = { request };
        continue;
      }
      const answer = JSON.parse(text) as unknown;
      answers[id] = answer;
      out[id] = { request, response: shorten(answer) };
      if (!record) expect(shape(shorten(answer)), id).toEqual(shape(example.response));
    }
    if (record) writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  });
});
