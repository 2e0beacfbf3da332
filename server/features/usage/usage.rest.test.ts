// The REST spelling of the statistics filters (restQuery in usage-stats.ts): the original
// service's query names, read into the service's own, with errors that name the REST field.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { endpointMeta } from "../../http/endpoint.ts";
import { llmSavings } from "./savings.rest.ts";
import { embeddingUsage, llmUsage } from "./usage.rest.ts";

const queryOf = (handlers: object) => endpointMeta(handlers)!.methods.GET!.query!;
const names = (schema: z.ZodType) =>
  Object.keys((z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as { properties: object }).properties).sort();

describe("the REST query of the usage statistics", () => {
  it("keeps the query names of the REST contract", () => {
    const usage = ["api_key_id", "end_date", "end_user", "model", "provider", "start_date", "status", "tag", "team_id", "tz", "user_id"];
    expect(names(queryOf(llmUsage))).toEqual(usage);
    expect(names(queryOf(embeddingUsage))).toEqual(usage);
    expect(names(queryOf(llmSavings))).toEqual(
      [
        "alternatives",
        "api_key_id",
        "end_date",
        "end_user",
        "kind",
        "model",
        "provider",
        "start_date",
        "tag",
        "team_id",
        "tz",
        "user_id",
      ].sort(),
    );
  });

  it("reads every REST name into the service's filter, and drops what REST does not take", () => {
    const parsed = queryOf(llmUsage).parse({
      start_date: "2026-01-01",
      end_date: "2026-01-31",
      tz: "Europe/Paris",
      user_id: "u1",
      api_key_id: "k1",
      model: "gpt-4o",
      provider: "openai",
      status: "error",
      // Not REST parameters: the service's spelling, the dashboard's comparison and endpoint filter.
      apiKeyId: "other",
      compare: "true",
      endpoint: "/v1/llm/generate",
    });
    expect(parsed).toEqual({
      start: "2026-01-01",
      end: "2026-01-31",
      tz: "Europe/Paris",
      userId: "u1",
      apiKeyId: "k1",
      model: "gpt-4o",
      provider: "openai",
      status: "error",
    });
    expect(queryOf(llmUsage).parse({})).toEqual({});
    expect(queryOf(llmSavings).parse({ kind: "embedding", alternatives: "3", model: "m" })).toEqual({
      kind: "embedding",
      alternatives: 3,
      model: "m",
    });
  });

  it("names the REST field in its errors", () => {
    const paths = (schema: z.ZodType, q: object) => schema.safeParse(q).error?.issues.map((i) => i.path.join("."));
    expect(paths(queryOf(llmUsage), { start_date: "2026-13-01" })).toEqual(["start_date"]);
    expect(paths(queryOf(llmUsage), { status: "nope" })).toEqual(["status"]);
    expect(paths(queryOf(llmUsage), { api_key_id: "" })).toEqual(["api_key_id"]);
    const kind = queryOf(llmSavings).safeParse({ kind: "images" });
    expect(kind.error?.issues.map((i) => [i.path.join("."), i.message])).toEqual([["kind", "kind must be all, llm or embedding"]]);
  });
});
