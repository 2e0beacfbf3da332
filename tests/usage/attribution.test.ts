// Attribution through all four API families (#21 item 1): the OpenAI SDK (chat completions and
// embeddings: `user`, `metadata`), the Anthropic SDK (`metadata.user_id`), our REST
// /v1/llm/generate and /v1/llm/generate-embeddings (`user`, `metadata`) and tRPC (`attribution`),
// each also with the x-model-service-* headers; every value lands on the usage event, the headers
// never reach the provider, the limits answer 400 naming the field, and GET /v1/llm/usage filters
// and breaks down by tag and end user with the roll-ups agreeing with a raw query over the events.
// On PGlite and, with TEST_DATABASE_URL, PostgreSQL.
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";
import { createModelServiceClient } from "@/client/index.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { useHost } from "@/tests/support/host.ts";

type EventRow = {
  endpoint: string;
  tags: string[];
  end_user: string | null;
  session_id: string | null;
  metadata: Record<string, unknown> | null;
  total_cost: string;
};

describe.each(testDatabases())("attribution on $kind", ({ kind }) => {
  const host = useHost({
    database: kind,
    env: { RATE_LIMITS: '{"generate":"off","generate-embeddings":"off","tier:standard":"off","tier:premium":"off"}' },
  });
  let key = "";
  let admin = "";
  const today = new Date().toISOString().slice(0, 10);
  let n = 0;
  const rid = () => `${kind}-attr-${++n}`;

  beforeAll(async () => {
    key = (await host.createKey({ name: "attribution", tier: "premium" })).key;
    admin = (await host.createKey({ name: "attribution-admin", isAdmin: true, tier: "premium" })).key;
  });

  async function event(requestId: string): Promise<EventRow> {
    await host.flush();
    const rows = await host
      .db()
      .rawQuery<EventRow>(
        "SELECT endpoint, tags, end_user, session_id, metadata, total_cost::text AS total_cost FROM usage_events WHERE request_id = $1",
        [requestId],
      );
    expect(rows).toHaveLength(1);
    return rows[0]!;
  }

  async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${host.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as { error?: { message: string; code: string } } & Record<string, unknown> };
  }

  const lastProviderRequest = () => host.emulator.requests.filter((r) => r.method === "POST").at(-1)!;

  it("OpenAI chat completions: user and metadata from the body, tags and session from headers; only user reaches the provider", async () => {
    const openai = new OpenAI({ apiKey: key, baseURL: `${host.url}/v1`, maxRetries: 0 });
    const id = rid();
    await openai.chat.completions.create(
      { model: "gpt-4o-mini", messages: [{ role: "user", content: "hello" }], user: "customer-42", metadata: { feature: "search" } },
      { headers: { "x-request-id": id, "x-model-service-tags": "search, beta,search", "x-model-service-session": "chat-7" } },
    );
    expect(await event(id)).toMatchObject({
      endpoint: "/v1/chat/completions",
      tags: ["beta", "search"],
      end_user: "customer-42",
      session_id: "chat-7",
      metadata: { feature: "search" },
    });
    const sent = lastProviderRequest();
    expect((sent.body as Record<string, unknown>).user).toBe("customer-42");
    expect((sent.body as Record<string, unknown>).metadata).toBeUndefined();
    expect(Object.keys(sent.headers).filter((h) => h.startsWith("x-model-service-"))).toEqual([]);
  });

  it("OpenAI chat completions streamed, attribution from headers only", async () => {
    const openai = new OpenAI({ apiKey: key, baseURL: `${host.url}/v1`, maxRetries: 0 });
    const id = rid();
    const stream = await openai.chat.completions.create(
      { model: "gpt-4o-mini", messages: [{ role: "user", content: "hello" }], stream: true },
      {
        headers: {
          "x-request-id": id,
          "x-model-service-end-user": "header-user",
          "x-model-service-metadata": '{"team":"growth","run":3}',
        },
      },
    );
    for await (const _chunk of stream) void _chunk;
    expect(await event(id)).toMatchObject({ tags: [], end_user: "header-user", session_id: null, metadata: { team: "growth", run: 3 } });
    expect((lastProviderRequest().body as Record<string, unknown>).user).toBeUndefined();
  });

  it("OpenAI embeddings: user and metadata", async () => {
    const openai = new OpenAI({ apiKey: key, baseURL: `${host.url}/v1`, maxRetries: 0 });
    const id = rid();
    await openai.embeddings.create(
      {
        model: "text-embedding-3-small",
        input: ["one text"],
        user: "embedder",
        metadata: { corpus: "docs" },
      } as OpenAI.EmbeddingCreateParams,
      { headers: { "x-request-id": id, "x-model-service-tags": "index" } },
    );
    expect(await event(id)).toMatchObject({
      endpoint: "/v1/embeddings",
      tags: ["index"],
      end_user: "embedder",
      metadata: { corpus: "docs" },
    });
  });

  it("Anthropic messages: metadata.user_id is the end user; headers add tags", async () => {
    const anthropic = new Anthropic({ apiKey: key, baseURL: host.url, maxRetries: 0 });
    const id = rid();
    await anthropic.messages.create(
      { model: "claude-3-haiku", max_tokens: 50, messages: [{ role: "user", content: "hi" }], metadata: { user_id: "anthropic-user" } },
      { headers: { "x-request-id": id, "x-model-service-tags": "support" } },
    );
    expect(await event(id)).toMatchObject({ endpoint: "/v1/messages", tags: ["support"], end_user: "anthropic-user", session_id: null });
    expect(Object.keys(lastProviderRequest().headers).filter((h) => h.startsWith("x-model-service-"))).toEqual([]);
  });

  it("REST generate and embeddings: user and metadata in the body win over the headers", async () => {
    const id = rid();
    const r = await post(
      "/v1/llm/generate",
      { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], user: "body-user", metadata: { from: "body" } },
      {
        "x-request-id": id,
        "x-model-service-end-user": "header-user",
        "x-model-service-metadata": '{"from":"header"}',
        "x-model-service-tags": "rest",
      },
    );
    expect(r.status).toBe(200);
    expect(await event(id)).toMatchObject({ tags: ["rest"], end_user: "body-user", metadata: { from: "body" } });

    const e = rid();
    const emb = await post(
      "/v1/llm/generate-embeddings",
      { model: "local-hash-384", texts: ["a b"], metadata: { nested: { list: [1, 2] } } },
      { "x-request-id": e, "x-model-service-end-user": "header-user", "x-model-service-session": "s-1" },
    );
    expect(emb.status).toBe(200);
    expect(await event(e)).toMatchObject({
      endpoint: "/v1/llm/generate-embeddings",
      end_user: "header-user",
      session_id: "s-1",
      metadata: { nested: { list: [1, 2] } },
    });
  });

  it("tRPC generation and embeddings take an attribution object", async () => {
    const trpc = createModelServiceClient(host.url, { apiKey: key });
    await trpc.generation.generate.mutate({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
      attribution: { tags: ["playground"], endUser: "tester", session: "pg-1", metadata: { screen: "playground" } },
    });
    await trpc.embeddings.generate.mutate({ model: "local-hash-384", texts: ["x"], attribution: { tags: ["playground", "embed"] } });
    await host.flush();
    const rows = await host
      .db()
      .rawQuery<EventRow>(
        "SELECT endpoint, tags, end_user, session_id, metadata, total_cost::text AS total_cost FROM usage_events WHERE endpoint LIKE 'trpc:%' ORDER BY created_at",
      );
    expect(rows.map((r) => [r.endpoint, r.tags, r.end_user, r.session_id, r.metadata])).toEqual([
      ["trpc:generation.generate", ["playground"], "tester", "pg-1", { screen: "playground" }],
      ["trpc:embeddings.generate", ["embed", "playground"], null, null, null],
    ]);
    await expect(
      trpc.generation.generate.mutate({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "hi" }],
        attribution: { tags: ["no spaces"] },
      }),
    ).rejects.toMatchObject({ data: { httpStatus: 400 } });
  });

  describe("limits", () => {
    const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] };
    const cases: [name: string, body: Record<string, unknown>, headers: Record<string, string>, field: RegExp][] = [
      [
        "11 tags",
        chat,
        { "x-model-service-tags": Array.from({ length: 11 }, (_, i) => `t${i}`).join(",") },
        /x-model-service-tags.*at most 10 tags/,
      ],
      ["a tag with a space", chat, { "x-model-service-tags": "ok,not ok" }, /x-model-service-tags.*letters, digits/],
      ["a 65-character tag", chat, { "x-model-service-tags": "a".repeat(65) }, /x-model-service-tags.*at most 64 characters/],
      ["a 257-character end user header", chat, { "x-model-service-end-user": "u".repeat(257) }, /x-model-service-end-user.*at most 256/],
      ["a 257-character session", chat, { "x-model-service-session": "s".repeat(257) }, /x-model-service-session.*at most 256/],
      ["metadata header that is not JSON", chat, { "x-model-service-metadata": "{nope" }, /x-model-service-metadata must be a JSON object/],
      ["metadata header that is an array", chat, { "x-model-service-metadata": "[1]" }, /x-model-service-metadata must be a JSON object/],
      ["metadata header nested 4 deep", chat, { "x-model-service-metadata": '{"a":{"b":{"c":{}}}}' }, /x-model-service-metadata.*3 levels/],
      ["a 257-character user", { ...chat, user: "u".repeat(257) }, {}, /user.*at most 256/],
      [
        "17 metadata keys",
        { ...chat, metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i])) },
        {},
        /metadata.*at most 16 keys/,
      ],
      ["2 KB of metadata", { ...chat, metadata: { big: "x".repeat(2100) } }, {}, /metadata.*at most 2048 bytes/],
      ["metadata nested 4 deep", { ...chat, metadata: { a: { b: { c: [1] } } } }, {}, /metadata.*3 levels/],
      ["a NUL in a metadata value", { ...chat, metadata: { a: "x\u0000y" } }, {}, /metadata.*NUL/],
    ];
    it.each(cases)("%s is a 400 naming the field and the limit", async (_name, body, headers, message) => {
      const before = host.emulator.requests.length;
      const r = await post("/v1/llm/generate", body, headers);
      expect(r.status).toBe(400);
      expect(JSON.stringify(r.json.error)).toMatch(message);
      expect(host.emulator.requests.length).toBe(before); // refused before the provider was asked
    });

    it("the OpenAI-compatible routes refuse the same way, in OpenAI's error shape", async () => {
      const openai = new OpenAI({ apiKey: key, baseURL: `${host.url}/v1`, maxRetries: 0 });
      const err = await openai.chat.completions
        .create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }, { headers: { "x-model-service-tags": "bad tag" } })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as Error).message).toMatch(/x-model-service-tags/);
    });
  });

  describe("GET /v1/llm/requests and /v1/llm/requests/{id}", () => {
    type Item = Record<string, unknown> & { id: string; tags: string[]; end_user: string | null; session_id: string | null; cost: number };
    const get = async (path: string, as = key) => {
      const res = await fetch(`${host.url}${path}`, { headers: { authorization: `Bearer ${as}` } });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> & { items: Item[]; next_cursor: string | null } };
    };

    it("lists the caller's calls newest first with their attribution, filtered by tag, end user and session, by cursor", async () => {
      await host.flush();
      const all = await get("/v1/llm/requests?limit=200");
      expect(all.status).toBe(200);
      const events = await host
        .db()
        .rawQuery<{ id: string }>(
          "SELECT e.id FROM usage_events e JOIN api_keys k ON k.id = e.api_key_id WHERE k.name = 'attribution' ORDER BY e.created_at DESC, e.id DESC",
        );
      expect(all.json.items.map((i) => i.id)).toEqual(events.map((e) => e.id));

      const tagged = await get("/v1/llm/requests?tag=search");
      expect(tagged.json.items.length).toBeGreaterThan(0);
      for (const i of tagged.json.items) expect(i.tags).toContain("search");
      const session = await get("/v1/llm/requests?session=chat-7");
      expect(session.json.items.map((i) => [i.session_id, i.end_user, i.tags])).toEqual([["chat-7", "customer-42", ["beta", "search"]]]);
      const user = await get("/v1/llm/requests?end_user=anthropic-user&model=claude-3-haiku");
      expect(user.json.items.map((i) => i.end_user)).toEqual(["anthropic-user"]);

      // Pages of 2 by cursor give the same calls in the same order.
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await get(`/v1/llm/requests?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
        expect(page.json.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.json.items.map((i) => i.id));
        cursor = page.json.next_cursor;
      } while (cursor);
      expect(seen).toEqual(events.map((e) => e.id));

      expect((await get("/v1/llm/requests?limit=0")).status).toBe(400);
      expect((await get("/v1/llm/requests?cursor=nope")).status).toBe(400);
    });

    it("shows one call with its metadata, costs and attempts; another's call is a 404, an admin sees it", async () => {
      const [row] = await host
        .db()
        .rawQuery<{ id: string; input_cost: string; output_cost: string; total_cost: string }>(
          "SELECT id, input_cost::text, output_cost::text, total_cost::text FROM usage_events WHERE session_id = 'chat-7'",
        );
      const one = await get(`/v1/llm/requests/${row!.id}`);
      expect(one.status).toBe(200);
      expect(one.json).toMatchObject({
        id: row!.id,
        endpoint: "/v1/chat/completions",
        tags: ["beta", "search"],
        end_user: "customer-42",
        session_id: "chat-7",
        metadata: { feature: "search" },
        attempts: 1,
        input_cost: Number(row!.input_cost),
        output_cost: Number(row!.output_cost),
        cost: Number(row!.total_cost),
      });
      const other = (await host.createKey({ name: "someone else", tier: "premium" })).key;
      expect((await get(`/v1/llm/requests/${row!.id}`, other)).status).toBe(404);
      expect((await get("/v1/llm/requests", other)).json.items).toEqual([]);
      expect((await get(`/v1/llm/requests/${row!.id}`, admin)).status).toBe(200);
      expect((await get("/v1/llm/requests/no-such-id")).status).toBe(404);
    });

    it("tRPC usage.recent and usage.request answer the same", async () => {
      const trpc = createModelServiceClient(host.url, { apiKey: key });
      const page = await trpc.usage.recent.query({ session: "chat-7" });
      expect(page.items.map((i) => [i.session, i.endUser, i.tags])).toEqual([["chat-7", "customer-42", ["beta", "search"]]]);
      const one = await trpc.usage.request.query({ id: page.items[0]!.id });
      expect(one).toMatchObject({ session: "chat-7", metadata: { feature: "search" }, cost: page.items[0]!.cost });
    });
  });

  describe("GET /v1/llm/usage by tag and end user", () => {
    type Usage = Record<string, unknown> & {
      total_requests: number;
      total_cost: number;
      requests_by_tag: Record<string, number>;
      cost_by_tag: Record<string, number>;
      requests_by_end_user: Record<string, number>;
      cost_by_end_user: Record<string, number>;
    };
    const usage = async (query: string, as = admin) => {
      await host.flush();
      const res = await fetch(`${host.url}/v1/llm/usage?start_date=${today}&end_date=${today}${query}`, {
        headers: { authorization: `Bearer ${as}` },
      });
      expect(res.status).toBe(200);
      return (await res.json()) as Usage;
    };
    // The same sums over the raw events, in exact decimal.
    const raw = async (where: string, params: unknown[] = []) =>
      (
        await host
          .db()
          .rawQuery<{ n: number; cost: string }>(
            `SELECT count(*)::int AS n, coalesce(sum(total_cost), 0)::text AS cost FROM usage_events WHERE kind = 'llm' AND ${where}`,
            params,
          )
      )[0]!;

    it("answers requests_by_tag / cost_by_tag and by end user that match the events, and filters by tag= and end_user=", async () => {
      const all = await usage("");
      const tags = (
        await host.db().rawQuery<{ tag: string }>("SELECT DISTINCT unnest(tags) AS tag FROM usage_events WHERE kind = 'llm'")
      ).map((r) => r.tag);
      expect(tags.length).toBeGreaterThan(2);
      for (const tag of tags) {
        const expected = await raw("$1 = ANY(tags)", [tag]);
        expect(all.requests_by_tag[tag]).toBe(expected.n);
        expect(all.cost_by_tag[tag]).toBe(Number(expected.cost));
        const filtered = await usage(`&tag=${encodeURIComponent(tag)}`);
        expect(filtered.total_requests).toBe(expected.n);
        expect(filtered.total_cost).toBe(Number(expected.cost));
        expect(filtered.requests_by_tag[tag]).toBe(expected.n);
      }
      const users = await host
        .db()
        .rawQuery<{ u: string }>("SELECT DISTINCT end_user AS u FROM usage_events WHERE kind = 'llm' AND end_user IS NOT NULL");
      expect(users.length).toBeGreaterThan(2);
      for (const { u } of users) {
        const expected = await raw("end_user = $1", [u]);
        expect(all.requests_by_end_user[u]).toBe(expected.n);
        expect(all.cost_by_end_user[u]).toBe(Number(expected.cost));
        const filtered = await usage(`&end_user=${encodeURIComponent(u)}`);
        expect([filtered.total_requests, filtered.total_cost]).toEqual([expected.n, Number(expected.cost)]);
        expect(Object.keys(filtered.requests_by_end_user)).toEqual([u]);
      }
      // A tag nobody used; both filters at once are refused (the roll-ups keep each on its own).
      expect((await usage("&tag=nobody")).total_requests).toBe(0);
      const both = await fetch(`${host.url}/v1/llm/usage?tag=search&end_user=customer-42`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(both.status).toBe(400);
      expect(JSON.stringify(await both.json())).toMatch(/one of them at a time/);
    });

    it("refuses a bad tag= or end_user= naming the parameter", async () => {
      const res = await fetch(`${host.url}/v1/llm/usage?tag=${encodeURIComponent("bad tag")}`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(res.status).toBe(400);
      expect(JSON.stringify(await res.json())).toMatch(/tag/);
      const long = await fetch(`${host.url}/v1/llm/usage?end_user=${"u".repeat(257)}`, { headers: { authorization: `Bearer ${admin}` } });
      expect(long.status).toBe(400);
      expect(JSON.stringify(await long.json())).toMatch(/end_user/);
    });
  });
});
