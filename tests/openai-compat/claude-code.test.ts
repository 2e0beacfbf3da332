// @anthropic-ai/sdk driven the way Claude Code drives /v1/messages (#24 item 5): streamed, with
// extended thinking and cache_control breakpoints on the tools and the system prompt. The
// breakpoints reach Anthropic; the emulator caches by them as Anthropic does (a prefix of at least
// 1,024 tokens written on the first call, read on the next); the answer and its exact cost.
import Anthropic from "@anthropic-ai/sdk";
import { describe, expect, it } from "vitest";
import { useCompatServer } from "./harness.ts";

const SYSTEM = Array.from({ length: 1100 }, () => "w").join(" ");

describe("Claude Code's way of calling /v1/messages", () => {
  const server = useCompatServer("pglite");
  const client = () => new Anthropic({ apiKey: server.key, baseURL: server.url, maxRetries: 0 });

  async function turn(requestId: string, ttl?: "1h") {
    const stream = client().messages.stream(
      {
        model: "claude-sonnet-4-6",
        max_tokens: 4096,
        thinking: { type: "enabled", budget_tokens: 1024 },
        tools: [
          {
            name: "Read",
            description: "Read a file",
            input_schema: { type: "object", properties: { path: { type: "string" } } },
            cache_control: { type: "ephemeral" },
          },
        ],
        system: [{ type: "text", text: SYSTEM, cache_control: { type: "ephemeral", ...(ttl ? { ttl } : {}) } }],
        messages: [{ role: "user", content: "one two" }],
      },
      { headers: { "x-request-id": requestId } },
    );
    const message = await stream.finalMessage();
    const [event] = await server.events(requestId);
    return { message, event: event! };
  }

  it("writes the system prompt to the cache on the first call and reads it on the next, each exact to the picodollar", async () => {
    const first = await turn("cc-1");
    expect(first.message.content.map((b) => b.type)).toEqual(["thinking", "text"]);
    expect(first.message.content[1]).toEqual({ type: "text", text: "You said: one two" });
    expect(first.message.usage).toMatchObject({
      input_tokens: 2,
      cache_creation_input_tokens: 1100,
      cache_read_input_tokens: 0,
      output_tokens: 7,
    });
    const sent = server.emulator.requests.filter((r) => r.path === "/v1/messages").at(-1)!.body as {
      tools: { cache_control?: unknown }[];
      system: { cache_control?: unknown }[];
    };
    expect(sent.tools[0]!.cache_control).toEqual({ type: "ephemeral" });
    expect(sent.system[0]!.cache_control).toEqual({ type: "ephemeral" });
    // claude-sonnet-4-6: 2 in × $3 + 1,100 written (5 min) × $3.75 + 7 out (4 text, 3 thinking) × $15 per 1M.
    expect(first.event.total_cost).toBe("0.004236000000");

    const second = await turn("cc-2");
    expect(second.message.usage).toMatchObject({ input_tokens: 2, cache_creation_input_tokens: 0, cache_read_input_tokens: 1100 });
    // 2 in × $3 + 1,100 read × $0.30 + 7 out × $15.
    expect(second.event).toMatchObject({ cached_input_tokens: 1100, total_cost: "0.000441000000" });

    // A 1-hour breakpoint is another cache entry: written again, at the 1-hour rate (2 × $3 + 1,100 × $6 + 7 × $15).
    const third = await turn("cc-3", "1h");
    // (The SDK's streamed message keeps message_delta's counts but not its cache_creation split; the event has it.)
    expect(third.message.usage).toMatchObject({ cache_creation_input_tokens: 1100 });
    expect(third.event.total_cost).toBe("0.006711000000");
  });

  it("does not cache a prefix shorter than Anthropic's minimum (1,024 tokens)", async () => {
    const message = await client().messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 100,
      system: [{ type: "text", text: "short system prompt", cache_control: { type: "ephemeral" } }],
      messages: [{ role: "user", content: "hi" }],
    });
    expect(message.usage).toMatchObject({ cache_creation_input_tokens: 0, cache_read_input_tokens: 0, input_tokens: 4 });
  });
});
