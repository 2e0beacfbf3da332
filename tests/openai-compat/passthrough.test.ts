// The OpenAI-wire passthrough (server/providers/openai-wire.ts) end to end: our host in-process,
// an OpenAI model on the provider emulator, driven by raw HTTP (to see the bytes) and by the SDK.
// The caller's body goes on with only the fields we must change, the answer comes back as the
// provider sent it (plus our provider and cost), and usage, cost, errors and deadlines are the
// service's as on the SDK path.
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { testDatabases } from "@/tests/support/db.ts";
import { sseFrames, useCompatServer } from "./harness.ts";

type Body = Record<string, unknown>;

describe.each(testDatabases())("the OpenAI passthrough on $kind", ({ kind }) => {
  // A short deadline for the hung-upstream test; every other call here answers at once.
  const server = useCompatServer(kind, () => ({ OPENAI_PASSTHROUGH: "on", PROVIDER_TIMEOUT_MS: "1500" }));
  const rid = (id: string) => `${kind}-pt-${id}`;
  const post = (id: string, body: Body) =>
    fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json", "x-request-id": rid(id) },
      body: JSON.stringify(body),
    });
  const lastOpenAI = () => server.emulator.requests.filter((r) => r.protocol === "openai" && r.method === "POST").at(-1)!;

  it("forwards fields it does not read unchanged, and changes only what it must", async () => {
    const body = {
      model: "gpt-4o",
      messages: [{ role: "user", content: "hello there", name: "ann", extra_message_field: { kept: [1, 2] } }],
      seed: 7,
      logprobs: false,
      metadata: { team: "blue" },
      presence_penalty: 0.5,
      max_tokens: 20,
      stream_options: { include_usage: true },
      some_future_field: { nested: ["a", { b: null }] },
    };
    const res = await post("unknown-fields", body);
    expect(res.status).toBe(200);
    const sent = lastOpenAI();
    expect(sent.body).toEqual({
      model: "gpt-4o",
      messages: [{ role: "user", content: "hello there", name: "ann", extra_message_field: { kept: [1, 2] } }],
      seed: 7,
      logprobs: false,
      // metadata is the usage event's attribution: left out, as OpenAI takes it only with store: true.
      presence_penalty: 0.5,
      // OpenAI takes max tokens as max_completion_tokens (the SDK path sends the same); no stream_options on a plain call.
      max_completion_tokens: 20,
      some_future_field: { nested: ["a", { b: null }] },
    });
    // Not the SDK: none of its own headers, our key alone.
    expect(Object.keys(sent.headers).some((h) => h.startsWith("x-stainless"))).toBe(false);
    expect(sent.headers.authorization).toMatch(/^Bearer /);
  });

  it("returns the provider's bytes as they came, with our provider and cost added, and records the exact usage", async () => {
    // gpt-4o: $2.5 in, $1.25 cached, $10 out per 1M. 5 words in (2 cached); 4 words + 3 reasoning out.
    const res = await post("plain", {
      model: "gpt-4o",
      messages: [{ role: "user", content: "a b c d e [[emulator cached=2 reasoning=3 words=4]]" }],
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    // The emulator's own fields, which the SDK path does not send (it builds its answer anew).
    const answer = JSON.parse(text) as Body;
    expect(answer).toMatchObject({
      object: "chat.completion",
      model: "gpt-4o",
      service_tier: "default",
      system_fingerprint: "fp_emulator",
    });
    expect(answer.usage).toMatchObject({
      prompt_tokens: 5,
      completion_tokens: 7,
      prompt_tokens_details: { cached_tokens: 2, audio_tokens: 0 },
    });
    // Our fields at the end; everything before them is the upstream's text (it has no "provider" key).
    const ours = text.lastIndexOf(',"provider":"openai","cost":');
    expect(ours).toBeGreaterThan(0);
    expect(text.endsWith("}")).toBe(true);
    expect(text.slice(0, ours)).not.toContain('"provider"');
    // 3 × 2.5e-6 + 2 × 1.25e-6 = 0.00001 in; 7 × 10e-6 = 0.00007 out
    expect(answer.cost).toEqual({ input_cost: 0.00001, output_cost: 0.00007, total_cost: 0.00008 });
    expect(await server.events(rid("plain"))).toEqual([
      expect.objectContaining({
        status: "success",
        stream: false,
        model_id: "gpt-4o",
        input_tokens: 5,
        output_tokens: 7,
        cached_input_tokens: 2,
      }),
    ]);
  });

  it("streams the provider's chunks as they came; the usage chunk only when asked for, with our cost", async () => {
    const asked = await post("stream-usage", {
      model: "gpt-4o",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "one two three" }],
    });
    expect(asked.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const frames = sseFrames(await asked.text());
    expect(frames.at(-1)!.data).toBe("[DONE]");
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.data) as Body);
    expect(chunks.every((c) => c.system_fingerprint === "fp_emulator" && c.service_tier === "default")).toBe(true);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 5 });
    expect(last).toMatchObject({ provider: "openai", cost: { total_cost: expect.any(Number) } });
    expect(await server.events(rid("stream-usage"))).toEqual([
      expect.objectContaining({ status: "success", stream: true, input_tokens: 3, output_tokens: 5 }),
    ]);

    const unasked = await post("stream-plain", { model: "gpt-4o", stream: true, messages: [{ role: "user", content: "one two three" }] });
    const text = await unasked.text();
    // The usage chunk was read (the usage row below) but not sent, and no chunk says usage: null.
    expect(text).not.toContain('"usage"');
    expect(sseFrames(text).at(-1)!.data).toBe("[DONE]");
    expect((lastOpenAI().body as Body).stream_options).toEqual({ include_usage: true });
    expect(await server.events(rid("stream-plain"))).toEqual([
      expect.objectContaining({ status: "success", stream: true, input_tokens: 3, output_tokens: 5 }),
    ]);
  });

  it("a stream cut by the provider ends with an error frame and records what was streamed", async () => {
    const res = await post("cut", {
      model: "gpt-4o",
      stream: true,
      messages: [{ role: "user", content: "one two three four five six [[emulator fault=cut after=3]]" }],
    });
    const frames = sseFrames(await res.text());
    expect(frames.at(-1)!.data).toContain('"error"');
    const [row] = await server.events(rid("cut"));
    // Our count of what was streamed: "You said: one" is 3 words of output.
    expect(row).toMatchObject({ status: "error", stream: true, output_tokens: expect.any(Number) });
    expect(row!.output_tokens).toBeGreaterThan(0);
    expect(row!.input_tokens).toBeGreaterThan(0);
  });

  it("maps the provider's errors as the SDK path does, and the SDK reads them", async () => {
    const client = new OpenAI({ apiKey: server.key, baseURL: `${server.url}/v1`, maxRetries: 0 });
    // A 400 for a field we do not read: the provider's explanation, as a 400.
    const bad = await client.chat.completions
      .create({ model: "gpt-4o", messages: [{ role: "user", content: "x [[emulator tool=nope]]" }] })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    // Retried after a 500, then answered: one usage row, two provider calls.
    const retried = await post("retry", {
      model: "gpt-4o",
      messages: [{ role: "user", content: "y [[emulator fail_first=1 status=500]]" }],
    });
    expect(retried.status).toBe(200);
    expect(await server.events(rid("retry"))).toEqual([expect.objectContaining({ status: "success" })]);
    // The provider refused our key: a 502 that never shows it (nor the masked key OpenAI echoes).
    const refused = await post("unauthorized", {
      model: "gpt-4o",
      messages: [{ role: "user", content: "z [[emulator fault=unauthorized]]" }],
    });
    expect(refused.status).toBe(502);
    const text = await refused.text();
    expect(text).toContain("credentials");
    const key = server.emulator.openaiKey!;
    expect(text).not.toContain(key);
    expect(text).not.toContain(key.slice(-4));
    const malformed = await post("malformed", { model: "gpt-4o", messages: [{ role: "user", content: "m [[emulator fault=malformed]]" }] });
    expect(malformed.status).toBe(502);
  });

  it("gives up on a hung provider at the deadline: 504, plain and streamed, and records the timeout", async () => {
    const started = Date.now();
    const res = await post("hung", { model: "gpt-4o", messages: [{ role: "user", content: "wait [[emulator delay=10000]]" }] });
    expect(res.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await server.events(rid("hung"))).toEqual([expect.objectContaining({ status: "error", error_code: "timeout" })]);
    const streamed = await post("hung-stream", {
      model: "gpt-4o",
      stream: true,
      messages: [{ role: "user", content: "wait [[emulator delay=10000]]" }],
    });
    expect(streamed.status).toBe(504);
  });

  it("still checks what it reads: a 400 naming the field, before any provider call", async () => {
    const before = server.emulator.requests.length;
    const noMessages = await post("bad-1", { model: "gpt-4o", messages: [] });
    expect(noMessages.status).toBe(400);
    const badRole = await post("bad-2", { model: "gpt-4o", messages: [{ role: "wizard", content: "x" }] });
    expect(badRole.status).toBe(400);
    const badTokens = await post("bad-3", { model: "gpt-4o", max_tokens: -1, messages: [{ role: "user", content: "x" }] });
    expect(((await badTokens.json()) as { error: { param: string } }).error.param).toBe("max_tokens");
    expect(server.emulator.requests.length).toBe(before);
  });
});
