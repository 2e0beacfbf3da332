// Request and response bodies, when asked for (#21 item 2), through the OpenAI SDK against the
// service: a key with body logging on stores its calls' prompt and answer (a stream as its
// assembled text) in request_bodies, gzip-compressed, with secrets redacted before storage; a key
// without the setting stores none (this reads the table), unless a request asks with
// x-model-service-log-body: true; a key that forbids it stores none whatever the request says;
// REQUEST_LOG_BODIES=off stores nothing; GET /v1/llm/requests/{id} answers the body; the retention
// job deletes rows past REQUEST_LOG_RETENTION_DAYS and keeps the others. On PGlite and, with
// TEST_DATABASE_URL, PostgreSQL.
import { gunzipSync } from "node:zlib";
import OpenAI from "openai";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { resetEnvForTests } from "@/server/kernel/env.ts";
import { redactBody } from "@/server/features/usage/request-bodies.ts";
import { startBodyRetention } from "@/server/features/usage/usage.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { useHost } from "@/tests/support/host.ts";

const SERVICE_SECRET = "jwt-secret-of-this-service-0123456789";

describe.each(testDatabases())("request bodies on $kind", ({ kind }) => {
  const host = useHost({
    database: kind,
    env: {
      JWT_SECRET: SERVICE_SECRET,
      REQUEST_LOG_REDACT: "email",
      REQUEST_LOG_REDACT_REGEX: '["order-[0-9]{4}"]',
      RATE_LIMITS: '{"generate":"off","tier:standard":"off","tier:premium":"off"}',
    },
  });
  const keys = { on: "", plain: "", forbids: "" };
  let admin = "";
  let n = 0;
  const rid = () => `${kind}-body-${++n}`;

  beforeAll(async () => {
    keys.on = (await host.createKey({ name: "bodies-on", logBodies: true })).key;
    keys.plain = (await host.createKey({ name: "bodies-default" })).key;
    keys.forbids = (await host.createKey({ name: "bodies-forbidden", logBodies: false })).key;
    admin = (await host.createKey({ name: "bodies-admin", isAdmin: true })).key;
  });
  afterEach(() => {
    delete process.env.REQUEST_LOG_BODIES;
    resetEnvForTests();
  });

  const PROMPT = `Summarise order-1234 for ann@example.com; my key is sk-proj-abcdefghijklmnopqrstuv, header Bearer abcdefghijklmnop, and ${SERVICE_SECRET}`;

  async function chat(key: string, headers: Record<string, string> = {}, stream = false) {
    const openai = new OpenAI({ apiKey: key, baseURL: `${host.url}/v1`, maxRetries: 0 });
    const id = rid();
    let answer = "";
    if (stream) {
      const s = await openai.chat.completions.create(
        { model: "gpt-4o-mini", messages: [{ role: "user", content: PROMPT }], stream: true },
        { headers: { "x-request-id": id, ...headers } },
      );
      for await (const chunk of s) answer += chunk.choices[0]?.delta?.content ?? "";
    } else {
      const r = await openai.chat.completions.create(
        { model: "gpt-4o-mini", messages: [{ role: "user", content: PROMPT }] },
        { headers: { "x-request-id": id, ...headers } },
      );
      answer = r.choices[0]!.message.content ?? "";
    }
    await host.flush();
    const [event] = await host.db().rawQuery<{ id: string }>("SELECT id FROM usage_events WHERE request_id = $1", [id]);
    expect(event).toBeDefined();
    const rows = await host
      .db()
      .rawQuery<{ body: Uint8Array; size: number }>("SELECT body, size FROM request_bodies WHERE event_id = $1", [event!.id]);
    return { eventId: event!.id, answer, row: rows[0] };
  }

  it("stores a logging key's prompt and answer compressed, with secrets redacted before storage, and answers them on the detail", async () => {
    const { eventId, answer, row } = await chat(keys.on);
    expect(row).toBeDefined();
    const bytes = Buffer.from(row!.body);
    expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]); // gzip
    const json = gunzipSync(bytes).toString("utf8");
    expect(row!.size).toBe(Buffer.byteLength(json));
    for (const secret of ["sk-proj-abcdefghijklmnopqrstuv", "abcdefghijklmnop", SERVICE_SECRET, "ann@example.com", "order-1234"]) {
      expect(json).not.toContain(secret);
    }
    const stored = JSON.parse(json) as { request: { messages: { content: string }[] }; response: { text: string } };
    expect(stored.request.messages[0]!.content).toBe(
      "Summarise [redacted] for [email]; my key is sk-[redacted], header Bearer [redacted], and [redacted]",
    );
    // The emulator echoes the prompt: the answer's secrets are redacted too.
    expect(answer).toContain(SERVICE_SECRET);
    expect(stored.response.text).toBe(redactBody(answer));

    const res = await fetch(`${host.url}/v1/llm/requests/${eventId}`, { headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    const detail = (await res.json()) as { body: typeof stored };
    expect(detail.body).toEqual(stored);
  });

  it("stores a stream as its assembled text", async () => {
    const { answer, row } = await chat(keys.on, {}, true);
    const stored = JSON.parse(gunzipSync(Buffer.from(row!.body)).toString("utf8")) as { response: { text: string } };
    expect(answer).toContain("You said:");
    expect(stored.response.text).toBe(redactBody(answer));
  });

  it("stores no body for a key without the setting, unless the request asks; never for a key that forbids it", async () => {
    const plain = await chat(keys.plain);
    expect(plain.row).toBeUndefined();
    const asked = await chat(keys.plain, { "x-model-service-log-body": "true" });
    expect(asked.row).toBeDefined();
    const declined = await chat(keys.on, { "x-model-service-log-body": "false" });
    expect(declined.row).toBeUndefined();
    const forbidden = await chat(keys.forbids, { "x-model-service-log-body": "true" });
    expect(forbidden.row).toBeUndefined();
    const detail = await fetch(`${host.url}/v1/llm/requests/${plain.eventId}`, { headers: { authorization: `Bearer ${admin}` } });
    expect(((await detail.json()) as { body: unknown }).body).toBeNull();
  });

  it("stores nothing with REQUEST_LOG_BODIES=off, and stores a default key's bodies with on", async () => {
    process.env.REQUEST_LOG_BODIES = "off";
    resetEnvForTests();
    expect((await chat(keys.on, { "x-model-service-log-body": "true" })).row).toBeUndefined();
    process.env.REQUEST_LOG_BODIES = "on";
    resetEnvForTests();
    expect((await chat(keys.plain)).row).toBeDefined();
    expect((await chat(keys.forbids)).row).toBeUndefined();
  });

  it("refuses a log-body header that is not true or false with a 400 naming it", async () => {
    const res = await fetch(`${host.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${keys.on}`, "content-type": "application/json", "x-model-service-log-body": "yes" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("x-model-service-log-body");
  });

  it("deletes the bodies past the retention and keeps the others", async () => {
    const db = host.db();
    const old = new Date(Date.now() - 31 * 86_400_000).toISOString();
    const recent = new Date(Date.now() - 29 * 86_400_000).toISOString();
    await db.rawQuery(
      `INSERT INTO request_bodies (event_id, created_at, body, size) VALUES ('old-${kind}', $1, '\\x00'::bytea, 1), ('recent-${kind}', $2, '\\x00'::bytea, 1)`,
      [old, recent],
    );
    const job = startBodyRetention();
    try {
      expect(await job.runNow()).toBeGreaterThanOrEqual(1);
    } finally {
      job.stop();
    }
    const left = await db.rawQuery<{ event_id: string }>("SELECT event_id FROM request_bodies WHERE event_id LIKE '%-' || $1", [kind]);
    expect(left.map((r) => r.event_id)).toEqual([`recent-${kind}`]);
  });
});

describe("redactBody", () => {
  afterEach(() => {
    delete process.env.REQUEST_LOG_REDACT;
    resetEnvForTests();
  });
  it("always masks API-key shapes and bearer tokens; card numbers only when asked, and only those passing the Luhn check", () => {
    const text = "AKIAABCDEFGHIJKLMNOP AIzaSyA-0123456789abcdefghijklmnopqrstu card 4111 1111 1111 1111, not 4111 1111 1111 1112";
    expect(redactBody(text)).toBe("[redacted] [redacted] card 4111 1111 1111 1111, not 4111 1111 1111 1112");
    process.env.REQUEST_LOG_REDACT = "card";
    resetEnvForTests();
    expect(redactBody(text)).toBe("[redacted] [redacted] card [card], not 4111 1111 1111 1112");
  });
});
