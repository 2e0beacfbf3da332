import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabaseUrl } from "../../tests/support/db.ts";
import { filterToSql, payloadFilterSchema, qdrantKey, toQdrantFilter, type Filter } from "./filter.ts";

describe("payload filter keys", () => {
  it("refuses the characters Qdrant's key paths cannot hold, and the reserved key, with a message", () => {
    for (const [key, message] of [
      ['say"hi', 'cannot contain `"`'],
      ["back\\slash", "cannot contain"],
      ["_ms_point_id", "is reserved"],
      ["_ms_point_id.x", "is reserved"],
    ] as const) {
      const result = payloadFilterSchema.safeParse({ must: [{ key, match: { value: 1 } }] });
      expect(result.success, key).toBe(false);
      expect(result.error?.issues.map((i) => i.message).join("; "), key).toContain(message);
    }
    expect(payloadFilterSchema.safeParse({ must: [{ key: "meta._ms_point_id", match: { value: 1 } }] }).success).toBe(true);
  });

  it("writes keys in Qdrant's path syntax: plain segments as they are, others quoted, [] kept", () => {
    expect(qdrantKey("city")).toBe("city");
    expect(qdrantKey("address.city-name_2")).toBe("address.city-name_2");
    expect(qdrantKey("zip code")).toBe('"zip code"');
    expect(qdrantKey("meta.ns:kind")).toBe('meta."ns:kind"');
    expect(qdrantKey("items[].größe")).toBe("items[].größe");
    expect(qdrantKey("odd key[].x")).toBe('"odd key"[].x');
    expect(
      toQdrantFilter({ must: [{ key: "a b", match: { value: 1 } }, { should: [{ key: "c:d", range: { lt: 1 } }] }], must_not: [] }),
    ).toEqual({ must: [{ key: '"a b"', match: { value: 1 } }, { should: [{ key: '"c:d"', range: { lt: 1 } }] }], must_not: [] });
  });
});

describe("payload filter schema", () => {
  const parse = (v: unknown) => payloadFilterSchema.safeParse(v);
  const firstIssue = (v: unknown) => {
    const r = parse(v);
    expect(r.success).toBe(false);
    const issue = r.error!.issues[0]!;
    return { path: issue.path.join("."), message: issue.message };
  };

  it("accepts Qdrant's must / should / must_not with match and range, and nested filters", () => {
    const f = {
      must: [
        { key: "lang", match: { value: "en" } },
        { key: "n", range: { gte: 1, lt: 5.5 } },
      ],
      should: [{ key: "tags", match: { any: ["a", "b"] } }, { must_not: [{ key: "flag", match: { value: true } }] }],
      must_not: [{ key: "address.city", match: { any: [1, 2] } }],
    };
    expect(parse(f)).toMatchObject({ success: true, data: f });
  });

  it("accepts a single condition where a list is expected", () => {
    expect(parse({ must: { key: "a", match: { value: 1 } } }).data).toEqual({ must: [{ key: "a", match: { value: 1 } }] });
  });

  it("names the bad field", () => {
    expect(firstIssue({ must: [{ key: "a", match: { value: 1.5 } }] }).path).toBe("must.0.match");
    expect(firstIssue({ must: [{ key: "a", range: {} }] })).toMatchObject({
      path: "must.0.range",
      message: expect.stringMatching(/at least one/),
    });
    expect(firstIssue({ must: [{ key: "a" }] }).message).toMatch(/exactly one of match or range/);
    expect(firstIssue({ must: [{ key: "a", match: { any: ["x", 1] } }] }).path).toBe("must.0.match");
    expect(firstIssue({ should: [{ must: [{ key: "", match: { value: "x" } }] }] }).path).toBe("should.0.must.0.key");
    expect(firstIssue({ filter: [] }).message).toMatch(/Unrecognized key/);
  });

  it("limits nesting depth", () => {
    let f: Filter = { must: [{ key: "a", match: { value: 1 } }] };
    for (let i = 0; i < 9; i++) f = { must: [f] };
    expect(firstIssue(f).message).toMatch(/nest at most/);
  });
});

type Engine = { query<T>(sql: string, params?: unknown[]): Promise<T[]>; close(): Promise<void> };

async function pglite(): Promise<Engine> {
  const db = await PGlite.create();
  return { query: async (sql, params) => (await db.query(sql, params)).rows as never[], close: () => db.close() };
}

async function postgres(): Promise<Engine> {
  const client = new pg.Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  return { query: async (sql, params) => (await client.query(sql, params)).rows, close: () => client.end() };
}

const engines: { kind: string; open: () => Promise<Engine> }[] = [{ kind: "pglite", open: pglite }];
if (testDatabaseUrl()) engines.push({ kind: "postgres", open: postgres });

// The SQL is checked by running it: each case lists which payloads must match.
describe.each(engines)("payload filter SQL on $kind", ({ open }) => {
  let db: Engine;
  const payloads: Record<string, unknown>[] = [
    { id: 0, lang: "en", n: 1, tags: ["a", "b"], address: { city: "Lisbon" }, flag: true },
    { id: 1, lang: "de", n: 5, tags: ["c"], address: { city: "Berlin" }, flag: false },
    { id: 2, lang: "en", n: 10, tags: [], address: [{ city: "Porto" }, { city: "Braga" }] },
    { id: 3, n: "5", 'we"ird.key': 1 },
    { id: 4, lang: "EN", n: [2, 20] },
  ];
  beforeAll(async () => {
    db = await open();
    await db.query("create temp table p (id int, payload jsonb)");
    for (const [i, p] of payloads.entries()) await db.query("insert into p values ($1, $2)", [i, JSON.stringify(p)]);
  });
  afterAll(() => db.close());

  const ids = async (filter: Filter) => {
    const { sql, params } = filterToSql(payloadFilterSchema.parse(filter), "payload", 1);
    const rows = await db.query<{ id: number }>(`select id from p where ${sql} order by id`, params);
    return rows.map((r) => r.id);
  };

  it.each<[string, Filter, number[]]>([
    ["match a string exactly (case matters)", { must: [{ key: "lang", match: { value: "en" } }] }, [0, 2]],
    ["match an integer, not the string of it", { must: [{ key: "n", match: { value: 5 } }] }, [1]],
    ["match a boolean", { must: [{ key: "flag", match: { value: false } }] }, [1]],
    ["match inside an array", { must: [{ key: "tags", match: { value: "b" } }] }, [0]],
    ["match any", { must: [{ key: "tags", match: { any: ["c", "a"] } }] }, [0, 1]],
    ["a nested key", { must: [{ key: "address.city", match: { value: "Berlin" } }] }, [1]],
    ["a nested key through an array of objects", { must: [{ key: "address[].city", match: { value: "Braga" } }] }, [2]],
    ["a key does not reach into an array without []", { must: [{ key: "address.city", match: { value: "Braga" } }] }, []],
    ["range on numbers only", { must: [{ key: "n", range: { gte: 5 } }] }, [1, 2, 4]],
    ["range needs one element to satisfy all bounds", { must: [{ key: "n", range: { gt: 1, lt: 5 } }] }, [4]],
    [
      "should: any of",
      {
        should: [
          { key: "lang", match: { value: "de" } },
          { key: "n", range: { gt: 9 } },
        ],
      },
      [1, 2, 4],
    ],
    ["must_not, holding for a missing key", { must_not: [{ key: "lang", match: { value: "en" } }] }, [1, 3, 4]],
    [
      "nested filters",
      {
        must: [
          {
            should: [
              { key: "lang", match: { value: "en" } },
              { key: "lang", match: { value: "de" } },
            ],
          },
        ],
        must_not: [{ key: "n", range: { lt: 2 } }],
      },
      [1, 2],
    ],
    ["an empty filter matches everything", {}, [0, 1, 2, 3, 4]],
  ])("%s", async (_name, filter, expected) => {
    expect(await ids(filter)).toEqual(expected);
  });

  it("keeps keys and values out of the SQL text", () => {
    const { sql, params } = filterToSql(
      { must: [{ key: "x'); drop table p; --", match: { value: "'; drop table p; --" } }] },
      "payload",
      3,
    );
    expect(sql).toBe(
      "(COALESCE(jsonb_path_exists(payload, $3::jsonpath, $5::jsonb, true) OR jsonb_path_exists(payload, $4::jsonpath, $5::jsonb, true), false))",
    );
    expect(params).toHaveLength(3);
  });

  it("quotes odd keys inside the jsonpath", async () => {
    expect(await ids({ must: [{ key: "we'ird $key", match: { value: 1 } }] })).toEqual([]);
    const { params } = filterToSql({ must: [{ key: 'we"ird', match: { value: 1 } }] }, "payload", 1);
    expect(params[0]).toBe('strict $."we\\"ird" ? (@ == $v)');
  });
});
