// Extended thinking through POST /v1/messages with the official @anthropic-ai/sdk, as Claude Code
// uses it: `thinking` reaches Anthropic, the answer's thinking blocks (signatures kept) and redacted
// blocks come back plain and streamed, a thinking block sent back in a tool-use loop reaches
// Anthropic unchanged (the emulator checks its signature as Anthropic does), thinking tokens are
// billed as output, and another provider's model answers 400 naming `thinking` and the provider.
import Anthropic from "@anthropic-ai/sdk";
import { describe, expect, it } from "vitest";
import { thinkingSignature } from "@/tests/emulators/provider-emulator.ts";
import { useCompatServer } from "./harness.ts";

const tool: Anthropic.Tool = { name: "lookup", input_schema: { type: "object", properties: { q: { type: "string" } } } };

describe("extended thinking through /v1/messages", () => {
  const server = useCompatServer("pglite");
  const client = () => new Anthropic({ apiKey: server.key, baseURL: server.url, maxRetries: 0 });
  const rid = (id: string) => ({ headers: { "x-request-id": `thinking-${id}` } });

  it("passes thinking to Anthropic and answers its thinking block with the signature, billing thinking as output", async () => {
    const message = await client().messages.create(
      {
        model: "claude-sonnet-4-6",
        max_tokens: 4096,
        thinking: { type: "enabled", budget_tokens: 2048 },
        messages: [{ role: "user", content: "one two" }],
      },
      rid("plain"),
    );
    const thinking = "Considering: one two";
    expect(message.content).toEqual([
      { type: "thinking", thinking, signature: thinkingSignature(thinking) },
      { type: "text", text: "You said: one two" },
    ]);
    const sent = server.emulator.requests.filter((r) => r.path === "/v1/messages").at(-1)!.body as Record<string, unknown>;
    expect(sent.thinking).toEqual({ type: "enabled", budget_tokens: 2048 });
    // 2 in; out: 4 reply words + 3 thinking words. claude-sonnet-4-6: $3 in, $15 out (thinking at the output rate).
    expect(message.usage).toMatchObject({ input_tokens: 2, output_tokens: 7 });
    const [event] = await server.events("thinking-plain");
    expect(event).toMatchObject({ reasoning_tokens: 3, output_tokens: 7, total_cost: "0.000111000000" });
  });

  it("streams thinking_delta and signature_delta, and a redacted block whole", async () => {
    const stream = client().messages.stream(
      {
        model: "claude-sonnet-4-6",
        max_tokens: 4096,
        thinking: { type: "enabled", budget_tokens: 1024 },
        messages: [{ role: "user", content: "alpha beta [[emulator redacted]]" }],
      },
      rid("stream"),
    );
    let thinkingText = "";
    stream.on("thinking", (delta) => (thinkingText += delta));
    const final = await stream.finalMessage();
    const thinking = "Considering: alpha beta";
    expect(thinkingText).toBe(thinking);
    expect(final.content).toEqual([
      { type: "thinking", thinking, signature: thinkingSignature(thinking) },
      { type: "redacted_thinking", data: Buffer.from(`redacted:${thinking}`).toString("base64") },
      { type: "text", text: "You said: alpha beta" },
    ]);
  });

  it("sends the thinking block back with its signature in a tool-use loop; a forged one is Anthropic's 400", async () => {
    const first = await client().messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 4096,
      thinking: { type: "enabled", budget_tokens: 1024 },
      tools: [tool],
      messages: [{ role: "user", content: "find it [[emulator tool=lookup]]" }],
    });
    expect(first.stop_reason).toBe("tool_use");
    const call = first.content.find((b) => b.type === "tool_use")!;
    const followUp = (content: Anthropic.ContentBlockParam[]) =>
      client().messages.create({
        model: "claude-sonnet-4-6",
        max_tokens: 4096,
        thinking: { type: "enabled", budget_tokens: 1024 },
        tools: [tool],
        messages: [
          { role: "user", content: "find it" },
          { role: "assistant", content },
          { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "found" }] },
        ],
      });
    const second = await followUp(first.content as Anthropic.ContentBlockParam[]);
    expect(second.content.at(-1)).toEqual({ type: "text", text: `Tool ${call.id} returned: found` });
    const sent = server.emulator.requests.filter((r) => r.path === "/v1/messages").at(-1)!.body as {
      messages: { content: unknown }[];
    };
    expect((sent.messages[1]!.content as Record<string, unknown>[])[0]).toEqual(first.content[0]);

    const forged = await followUp([
      { type: "thinking", thinking: "something else", signature: "forged" },
      call as Anthropic.ToolUseBlockParam,
    ]).catch((e: unknown) => e);
    expect(forged).toBeInstanceOf(Anthropic.BadRequestError);
    expect((forged as Error).message).toMatch(/signature/);
  });

  it("refuses thinking for a model another provider serves, naming thinking and the provider", async () => {
    const err = await client()
      .messages.create({
        model: "gpt-4o",
        max_tokens: 4096,
        thinking: { type: "enabled", budget_tokens: 1024 },
        messages: [{ role: "user", content: "hi" }],
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as Error).message).toMatch(/thinking: not supported by openai \(gpt-4o\)/);
    // budget_tokens below max_tokens, as Anthropic requires.
    const budget = await client()
      .messages.create({
        model: "claude-sonnet-4-6",
        max_tokens: 1500,
        thinking: { type: "enabled", budget_tokens: 2000 },
        messages: [{ role: "user", content: "hi" }],
      })
      .catch((e: unknown) => e);
    expect((budget as Error).message).toMatch(/budget_tokens/);
  });
});
