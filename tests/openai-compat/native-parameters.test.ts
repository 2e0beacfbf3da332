// OpenAI's own chat parameters through /v1/chat/completions with the official openai SDK: on an
// OpenAI model they reach OpenAI as sent (the passthrough), n > 1 answers n choices whose tokens are
// counted once each; on another provider a parameter it cannot honour is a 400 naming the parameter
// and the provider, and the hints OpenAI itself does not promise (seed, service_tier auto) are dropped.
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { useCompatServer } from "./harness.ts";

describe("OpenAI's own parameters through /v1/chat/completions", () => {
  const server = useCompatServer("pglite");
  const client = (requestId: string) =>
    new OpenAI({ apiKey: server.key, baseURL: `${server.url}/v1`, maxRetries: 0, defaultHeaders: { "x-request-id": requestId } });

  it("passes seed, logprobs, top_logprobs, penalties, logit_bias, reasoning_effort and service_tier to OpenAI as sent", async () => {
    const answer = await client("native-all").chat.completions.create({
      model: "gpt-5",
      messages: [{ role: "user", content: "one two three" }],
      seed: 7,
      logprobs: true,
      top_logprobs: 2,
      frequency_penalty: 0.5,
      presence_penalty: -0.5,
      logit_bias: { "1234": -100 },
      reasoning_effort: "low",
      service_tier: "priority",
    });
    const sent = server.emulator.requests.find((r) => r.path === "/v1/chat/completions" && (r.body as { seed?: number }).seed === 7);
    expect(sent?.body).toMatchObject({
      seed: 7,
      logprobs: true,
      top_logprobs: 2,
      frequency_penalty: 0.5,
      presence_penalty: -0.5,
      logit_bias: { "1234": -100 },
      reasoning_effort: "low",
      service_tier: "priority",
    });
    expect(answer.service_tier).toBe("priority");
    expect(answer.choices[0]!.logprobs?.content?.map((t) => t.token)).toEqual(["You", " said:", " one", " two", " three"]);
    expect(answer.choices[0]!.logprobs?.content?.[0]?.top_logprobs).toHaveLength(2);
    // Billed at gpt-5's priority rates: 3 in × $2.5 + 5 out × $20 per 1M.
    const [event] = await server.events("native-all");
    expect(event).toMatchObject({ total_cost: "0.000107500000" });
  });

  it("answers n choices, plain and streamed, and counts each choice's tokens once", async () => {
    const plain = await client("native-n").chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "one two three" }],
      n: 3,
    });
    expect(plain.choices.map((c) => [c.index, c.message.content])).toEqual([
      [0, "You said: one two three"],
      [1, "You said: one two three"],
      [2, "You said: one two three"],
    ]);
    expect(plain.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 15 });
    // 3 in × $2.5 + 15 out × $10 per 1M.
    expect(await server.events("native-n")).toEqual([
      expect.objectContaining({ input_tokens: 3, output_tokens: 15, total_cost: "0.000157500000" }),
    ]);

    const stream = await client("native-n-stream").chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "one two" }],
      n: 2,
      stream: true,
      stream_options: { include_usage: true },
    });
    const texts = ["", ""];
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      for (const c of chunk.choices) texts[c.index] += c.delta.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(texts).toEqual(["You said: one two", "You said: one two"]);
    expect(usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 8 });
    expect(await server.events("native-n-stream")).toEqual([expect.objectContaining({ output_tokens: 8, stream: true })]);
  });

  it("refuses on Anthropic a parameter it cannot honour, naming it and the provider, and drops the hints", async () => {
    const refused = await client("native-refused")
      .chat.completions.create({ model: "claude-sonnet-4-5-20250929", messages: [{ role: "user", content: "hi" }], logprobs: true })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(
      /logprobs: not supported by anthropic \(claude-sonnet-4-5-20250929\)/,
    );
    for (const [param, value] of [
      ["n", 2],
      ["frequency_penalty", 1],
      ["logit_bias", { "1": 5 }],
      ["reasoning_effort", "high"],
      ["service_tier", "flex"],
    ] as const) {
      const err = await client(`native-refused-${param}`)
        .chat.completions.create({
          model: "claude-sonnet-4-5-20250929",
          messages: [{ role: "user", content: "hi" }],
          [param]: value,
        } as never)
        .catch((e: unknown) => e as Error);
      expect((err as Error).message).toContain(`${param}: not supported by anthropic`);
    }
    // seed and service_tier "auto" are hints: the call goes ahead without them.
    const ok = await client("native-hints").chat.completions.create({
      model: "claude-sonnet-4-5-20250929",
      messages: [{ role: "user", content: "one two" }],
      seed: 3,
      service_tier: "auto",
      frequency_penalty: 0,
    });
    expect(ok.choices[0]!.message.content).toBe("You said: one two");
    const sent = server.emulator.requests.filter((r) => r.path === "/v1/messages").at(-1);
    expect(sent?.body).not.toHaveProperty("seed");
  });

  it("OpenAI itself refuses reasoning_effort on a model without reasoning, and we pass its 400 on", async () => {
    const err = await client("native-effort")
      .chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }], reasoning_effort: "low" })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toMatch(/reasoning_effort/);
  });
});
