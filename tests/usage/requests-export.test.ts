// The requests list's filters beyond the statistics' (#21 items 3 and 5): a deployment, latency and
// cost ranges (both bounds included, costs compared as exact decimals), a tag with an end user;
// and the filtered list exported as CSV and as JSON lines over REST (every page, newest first,
// the exact costs summing to the events' own), a caller's export holding only their own calls, a
// formula-looking text defused, bad bounds a 400 naming the parameter. On PGlite and, with
// TEST_DATABASE_URL, PostgreSQL.
import { beforeAll, describe, expect, it } from "vitest";
import { parseUsd } from "@/lib/money.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { useHost } from "@/tests/support/host.ts";

type Listed = { id: string; cost: number; latency_ms: number; deployment: string | null; tags: string[]; end_user: string | null };

describe.each(testDatabases())("the requests list and its export on $kind", ({ kind }) => {
  const host = useHost({ database: kind });
  let admin = "";
  let user = "";
  let userKeyId = "";
  const day = "2026-11-20";
  const range = `start_date=${day}&end_date=${day}`;
  // 2,400 events of the user's key (more than two export pages) and 10 of another's.
  const MANY = 2400;

  beforeAll(async () => {
    admin = (await host.createKey({ name: "export-admin", isAdmin: true })).key;
    const created = await host.createKey({ name: "export-user" });
    user = created.key;
    userKeyId = created.apiKey.id;
    await host.db().rawQuery(
      `INSERT INTO usage_events (id, created_at, endpoint, kind, model_id, provider, api_key_id, status, stream, input_tokens, output_tokens,
         input_cost, output_cost, total_cost, latency_ms, deployment, tags, end_user, session_id)
       SELECT 'ev-' || lpad(n::text, 5, '0'), $1::timestamptz + n * interval '1 second', '/v1/llm/generate', 'llm', 'gpt-4o-mini', 'openai',
         CASE WHEN n <= $3 THEN $2 ELSE 'someone-else' END, CASE WHEN n % 50 = 0 THEN 'error' ELSE 'success' END, false, 100, 10,
         0, 0, (n * 0.000000000001)::numeric, n % 1000, CASE WHEN n % 3 = 0 THEN 'dep-a' END,
         CASE WHEN n % 2 = 0 THEN ARRAY['search'] ELSE ARRAY['chat', 'search'] END,
         CASE WHEN n % 7 = 0 THEN '=HYPERLINK("http://x")' WHEN n % 5 = 0 THEN 'cust-5' END, NULL
       FROM generate_series(1, $3 + 10) AS n`,
      [`${day}T00:00:00Z`, userKeyId, MANY],
    );
  });

  async function get(path: string, key = admin) {
    const res = await fetch(`${host.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
    return { res, text: await res.text() };
  }
  async function list(query: string, key = admin): Promise<Listed[]> {
    const items: Listed[] = [];
    let cursor = "";
    for (;;) {
      const { res, text } = await get(`/v1/llm/requests?${range}&limit=200&${query}${cursor ? `&cursor=${cursor}` : ""}`, key);
      expect(res.status, text).toBe(200);
      const page = JSON.parse(text) as { items: Listed[]; next_cursor: string | null };
      items.push(...page.items);
      if (!page.next_cursor) return items;
      cursor = page.next_cursor;
    }
  }
  const n = (id: string) => Number(id.slice(3));
  /** One CSV line's cells (RFC 4180 quoting). */
  const csvRow = (line: string): string[] => {
    const out: string[] = [];
    let cell = "";
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i]!;
      if (quoted) {
        if (c === '"' && line[i + 1] === '"') {
          cell += '"';
          i++;
        } else if (c === '"') quoted = false;
        else cell += c;
      } else if (c === '"') quoted = true;
      else if (c === ",") {
        out.push(cell);
        cell = "";
      } else cell += c;
    }
    out.push(cell);
    return out;
  };

  it("filters by latency and cost ranges (both bounds included, costs exact), deployment, and a tag with an end user", async () => {
    const slow = await list("min_latency_ms=990&max_latency_ms=995");
    expect(slow.map((i) => n(i.id)).sort((a, b) => a - b)).toEqual([990, 991, 992, 993, 994, 995, 1990, 1991, 1992, 1993, 1994, 1995]);
    // 0.000000000007 is event 7's cost exactly: both bounds take it.
    const costly = await list("min_cost=0.000000000007&max_cost=0.00000000001");
    expect(costly.map((i) => n(i.id)).sort((a, b) => a - b)).toEqual([7, 8, 9, 10]);
    const dep = await list("deployment=dep-a&max_cost=0.00000000003");
    expect(dep.map((i) => n(i.id)).sort((a, b) => a - b)).toEqual([3, 6, 9, 12, 15, 18, 21, 24, 27, 30]);
    expect(dep.every((i) => i.deployment === "dep-a")).toBe(true);
    const both = await list("tag=chat&end_user=cust-5&max_cost=0.0000000001");
    expect(both.map((i) => n(i.id)).sort((a, b) => a - b)).toEqual([5, 15, 25, 45, 55, 65, 75, 85, 95]);
  });

  it("refuses bad bounds with a 400 naming the parameter", async () => {
    for (const [query, name] of [
      ["min_cost=abc", "min_cost"],
      ["max_latency_ms=1.5", "max_latency_ms"],
      ["min_cost=0.2&max_cost=0.1", "max_cost"],
      ["min_latency_ms=10&max_latency_ms=5", "max_latency_ms"],
    ]) {
      const { res, text } = await get(`/v1/llm/requests?${range}&${query}`);
      expect(res.status, query).toBe(400);
      expect(text, query).toContain(name);
      const exported = await get(`/v1/llm/requests/export?${range}&${query}`);
      expect(exported.res.status, query).toBe(400);
    }
    expect((await get(`/v1/llm/requests/export?${range}&format=xml`)).res.status).toBe(400);
  });

  it("exports every matching call as CSV, newest first, with exact costs that sum to the events'", async () => {
    const { res, text } = await get(`/v1/llm/requests/export?${range}&format=csv`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(res.headers.get("content-disposition")).toBe(`attachment; filename="requests-${day}-to-${day}.csv"`);
    const lines = text.split("\r\n").filter(Boolean);
    const header = lines[0]!.split(",");
    expect(header.slice(0, 3)).toEqual(["id", "created_at", "request_id"]);
    expect(lines).toHaveLength(MANY + 10 + 1);
    const col = (name: string) => header.indexOf(name);
    const ids = lines.slice(1).map((l) => csvRow(l)[col("id")]!);
    expect(ids[0]).toBe(`ev-${String(MANY + 10).padStart(5, "0")}`);
    expect(new Set(ids).size).toBe(MANY + 10);
    expect(ids).toEqual([...ids].sort().reverse());
    const cells = lines.slice(1).map(csvRow);
    expect(cells.every((c) => c.length === header.length)).toBe(true);
    const total = cells.reduce((a, c) => a + parseUsd(c[col("cost_usd")]!), 0n);
    expect(cells.find((c) => c[col("id")] === "ev-00007")![col("end_user")]).toBe(`'=HYPERLINK("http://x")`);
    const [raw] = await host.db().rawQuery<{ cost: string }>("SELECT sum(total_cost)::text AS cost FROM usage_events WHERE id LIKE 'ev-%'");
    expect(total).toBe(parseUsd(raw!.cost));
    expect(text).toContain(`,"'=HYPERLINK(""http://x"")",`);
    expect(text).not.toMatch(/,=HYPERLINK/);
  });

  it("exports the same filtered list as JSON lines, and a caller's export holds only their own calls", async () => {
    const { res, text } = await get(`/v1/llm/requests/export?${range}&format=jsonl&tag=search&min_latency_ms=200`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-ndjson; charset=utf-8");
    const rows = text
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Listed);
    const want = await list("tag=search&min_latency_ms=200");
    expect(rows).toEqual(want);
    expect(rows.length).toBeGreaterThan(1000);
    const mine = await get(`/v1/llm/requests/export?${range}&format=jsonl`, user);
    const own = mine.text.split("\n").filter(Boolean);
    expect(own).toHaveLength(MANY);
    expect(own.every((l) => (JSON.parse(l) as { api_key_id: string }).api_key_id === userKeyId)).toBe(true);
  });
});
