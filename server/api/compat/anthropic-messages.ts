import "server-only";
// Anthropic's Messages protocol over our generation service, for Anthropic SDK users, answered by
// any model of the catalogue: the request schema (zod), the request as a GenerateInput (the
// `system` field as a system message, content blocks, tool_use / tool_result blocks as tool calls
// and tool messages), and the answer as a Message or as Anthropic's SSE event sequence.
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { safeString } from "../../kernel/validation.ts";
import { AppError } from "../../kernel/errors.ts";
import {
  generationParameters,
  type ChatMessage,
  type ContentPart,
  type EveryGenerationParameter,
  type FinishReason,
  type CacheControl,
  type ReasoningBlock,
  type ToolChoice,
} from "../../providers/types.ts";
import type { GenerateInput, GenerateOutcome, GenerationEvent } from "../../features/inference/index.ts";
import { usdNumber } from "../../features/catalogue/index.ts";
import { attributionIdSchema } from "../../features/usage/index.ts";
import type { Frame, StreamEncoder } from "../../http/event-stream.ts";

// ---------------------------------------------------------------------------------------------
// The request

/** A prompt-cache breakpoint: passed to Anthropic models, left out for the others. */
const cacheControl = z.object({ type: z.literal("ephemeral"), ttl: z.enum(["5m", "1h"]).optional() });
const textBlock = z.object({ type: z.literal("text"), text: safeString, cache_control: cacheControl.nullish() });
const imageBlock = z.object({
  type: z.literal("image"),
  source: z.discriminatedUnion("type", [
    z.object({
      type: z.literal("base64"),
      media_type: z.enum(["image/jpeg", "image/png", "image/gif", "image/webp"]),
      data: safeString.min(1),
    }),
    z.object({ type: z.literal("url"), url: safeString.min(1) }),
  ]),
});
const toolUseBlock = z.object({
  type: z.literal("tool_use"),
  id: safeString.min(1),
  name: safeString.min(1),
  input: z.record(safeString, z.unknown()),
});
const toolResultBlock = z.object({
  type: z.literal("tool_result"),
  tool_use_id: safeString.min(1),
  content: z.union([safeString, z.array(textBlock, { error: "tool_result content must be text" })]).optional(),
  is_error: z.boolean().optional(),
  cache_control: cacheControl.nullish(),
});
// Thinking blocks a client sends back (with their signatures) go back to Anthropic as they came; other providers do not read them.
const thinkingBlock = z.object({ type: z.literal("thinking"), thinking: safeString, signature: safeString });
const redactedThinkingBlock = z.object({ type: z.literal("redacted_thinking"), data: safeString });

const contentBlock = z.discriminatedUnion(
  "type",
  [textBlock, imageBlock, toolUseBlock, toolResultBlock, thinkingBlock, redactedThinkingBlock],
  {
    error: "a content block is text, image, tool_use, tool_result or thinking",
  },
);

const message = z.object({
  role: z.enum(["user", "assistant"], { error: "role must be user or assistant (the system prompt goes in `system`)" }),
  content: z.union([safeString, z.array(contentBlock)]),
});

const tool = z.object({
  name: safeString.regex(/^[a-zA-Z0-9_-]{1,128}$/, { error: "a tool name is 1 to 128 letters, digits, _ or -" }),
  description: safeString.optional(),
  input_schema: z.record(safeString, z.unknown()),
  type: z.literal("custom", { error: "only custom tools (with input_schema) are supported" }).nullish(),
  cache_control: cacheControl.nullish(),
});

const toolChoice = z.discriminatedUnion("type", [
  z.object({ type: z.literal("auto"), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal("any"), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal("tool"), name: safeString.min(1), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal("none") }),
]);

/** POST /v1/messages. Fields no other provider has (top_k, thinking, service_tier...) are accepted and ignored. */
export const messagesBody = z
  .object({
    model: safeString.min(1, { error: "name a model, e.g. claude-sonnet-4-6" }),
    max_tokens: z.number({ error: "max_tokens is required" }).int().positive(),
    messages: z.array(message).min(1, { error: "send at least one message" }),
    system: z.union([safeString, z.array(textBlock)]).optional(),
    stop_sequences: z.array(safeString).optional(),
    temperature: z.number().min(0).max(1).optional(),
    top_p: z.number().min(0).max(1).optional(),
    stream: z.boolean().optional(),
    /** `user_id`: the end user (attribution: features/usage), and sent on as the generation's `user`, as before. */
    metadata: z.object({ user_id: attributionIdSchema.nullish() }).optional(),
    tools: z.array(tool).optional(),
    tool_choice: toolChoice.optional(),
    /** Extended thinking: Anthropic models only (anthropic.rest.ts refuses it for another provider, naming it). */
    thinking: z
      .discriminatedUnion("type", [
        z.object({ type: z.literal("enabled"), budget_tokens: z.number().int().min(1024, { error: "budget_tokens is at least 1024" }) }),
        z.object({ type: z.literal("disabled") }),
      ])
      .optional(),
    output_config: z
      .object({ format: z.object({ type: z.literal("json_schema"), schema: z.record(safeString, z.unknown()) }).nullish() })
      .optional(),
  })
  .superRefine((body, ctx) => {
    if (body.thinking?.type === "enabled" && body.thinking.budget_tokens >= body.max_tokens) {
      ctx.addIssue({ code: "custom", path: ["thinking", "budget_tokens"], message: "must be less than max_tokens" });
    }
    const choice = body.tool_choice;
    if (choice?.type === "tool" && !(body.tools ?? []).some((t) => t.name === choice.name)) {
      ctx.addIssue({
        code: "custom",
        path: ["tool_choice", "name"],
        message: `names the tool "${choice.name}", which is not among the tools`,
      });
    }
  });

export type MessagesBody = z.infer<typeof messagesBody>;

function textOf(content: string | { text: string }[] | undefined): string {
  if (content === undefined) return "";
  return typeof content === "string" ? content : content.map((b) => b.text).join("\n");
}

function toCacheControl(c: z.infer<typeof cacheControl>): CacheControl {
  return { type: "ephemeral", ...(c.ttl ? { ttl: c.ttl } : {}) };
}

function imagePart(block: z.infer<typeof imageBlock>): ContentPart {
  const s = block.source;
  return { type: "image", url: s.type === "url" ? s.url : `data:${s.media_type};base64,${s.data}` };
}

/** One Anthropic message as ours: tool results become tool messages (first, as Anthropic orders them). */
function toMessages(m: z.infer<typeof message>, index: number): ChatMessage[] {
  if (typeof m.content === "string") return [{ role: m.role, content: m.content }];
  const out: ChatMessage[] = [];
  const parts: ContentPart[] = [];
  const toolCalls: NonNullable<ChatMessage["toolCalls"]> = [];
  const reasoning: ReasoningBlock[] = [];
  m.content.forEach((block, j) => {
    const misplaced = (what: string) =>
      new AppError("invalid_request", `Invalid request body: messages[${index}].content[${j}]: ${what}`, {
        issues: [{ field: `messages[${index}].content[${j}]`, message: what }],
      });
    switch (block.type) {
      case "text":
        parts.push({
          type: "text",
          text: block.text,
          ...(block.cache_control ? { cacheControl: toCacheControl(block.cache_control) } : {}),
        });
        break;
      case "image":
        if (m.role !== "user") throw misplaced("images belong in user messages");
        parts.push(imagePart(block));
        break;
      case "tool_use":
        if (m.role !== "assistant") throw misplaced("tool_use blocks belong in assistant messages");
        toolCalls.push({ id: block.id, name: block.name, arguments: JSON.stringify(block.input) });
        break;
      case "tool_result":
        if (m.role !== "user") throw misplaced("tool_result blocks belong in user messages");
        out.push({
          role: "tool",
          toolCallId: block.tool_use_id,
          content: textOf(block.content),
          ...(block.is_error ? { isError: true } : {}),
          ...(block.cache_control ? { cacheControl: toCacheControl(block.cache_control) } : {}),
        });
        break;
      case "thinking":
        if (m.role === "assistant") reasoning.push({ type: "thinking", thinking: block.thinking, signature: block.signature });
        break;
      case "redacted_thinking":
        if (m.role === "assistant") reasoning.push({ type: "redacted_thinking", data: block.data });
        break;
    }
  });
  const text = parts.flatMap((p) => (p.type === "text" ? [p.text] : [])).join("\n");
  if (m.role === "assistant") {
    if (text || toolCalls.length || reasoning.length) {
      out.push({
        role: "assistant",
        content: text,
        ...(toolCalls.length ? { toolCalls } : {}),
        ...(reasoning.length ? { reasoning } : {}),
      });
    }
  } else if (parts.length) {
    const keepParts = parts.some((p) => p.type === "image" || (p.type === "text" && p.cacheControl));
    out.push(keepParts ? { role: "user", content: text, parts } : { role: "user", content: text });
  }
  return out;
}

function toToolChoice(choice: MessagesBody["tool_choice"]): ToolChoice | undefined {
  switch (choice?.type) {
    case undefined:
      return undefined;
    case "none":
      return "none";
    case "auto":
      return "auto";
    case "any":
      return "required";
    case "tool":
      return { name: choice.name };
  }
}

/** The body's generation parameters in our terms (every one named: providers/types.ts EveryGenerationParameter). */
function messagesParameters(body: MessagesBody): EveryGenerationParameter {
  const choice = body.tool_choice;
  const format = body.output_config?.format;
  return {
    maxTokens: body.max_tokens,
    temperature: body.temperature,
    topP: body.top_p,
    stop: body.stop_sequences?.length ? body.stop_sequences : undefined,
    user: body.metadata?.user_id ?? undefined,
    tools: body.tools?.map((t) => ({
      name: t.name,
      parameters: t.input_schema,
      ...(t.description ? { description: t.description } : {}),
      ...(t.cache_control ? { cacheControl: toCacheControl(t.cache_control) } : {}),
    })),
    toolChoice: toToolChoice(choice),
    parallelToolCalls: choice && "disable_parallel_tool_use" in choice && choice.disable_parallel_tool_use ? false : undefined,
    responseFormat: format ? { type: "json_schema", name: "output", schema: format.schema } : undefined,
    thinking:
      body.thinking === undefined
        ? undefined
        : body.thinking.type === "enabled"
          ? { type: "enabled", budgetTokens: body.thinking.budget_tokens }
          : { type: "disabled" },
  };
}

export function messagesInput(body: MessagesBody): GenerateInput {
  const messages: ChatMessage[] = [];
  if (typeof body.system === "string" || !body.system?.some((b) => b.cache_control)) {
    const system = textOf(body.system);
    if (system) messages.push({ role: "system", content: system });
  } else {
    // System blocks with cache breakpoints stay blocks: one system message each, its mark kept.
    for (const b of body.system) {
      messages.push({ role: "system", content: b.text, ...(b.cache_control ? { cacheControl: toCacheControl(b.cache_control) } : {}) });
    }
  }
  body.messages.forEach((m, i) => messages.push(...toMessages(m, i)));
  return { model: body.model, messages, ...generationParameters(messagesParameters(body)) };
}

// ---------------------------------------------------------------------------------------------
// The answer

type StopReason = "end_turn" | "max_tokens" | "tool_use" | "refusal";

export function anthropicStopReason(reason: FinishReason): StopReason {
  switch (reason) {
    case "length":
      return "max_tokens";
    case "tool_calls":
      return "tool_use";
    case "content_filter":
      return "refusal";
    default:
      return "end_turn";
  }
}

export function newMessageId(): string {
  return `msg_${randomBytes(18).toString("base64url")}`;
}

/**
 * Anthropic's usage: its input_tokens leaves out cache reads and cache writes, which come
 * separately (cache_creation_input_tokens, split by lifetime in cache_creation), as the providers
 * that tell them apart (Anthropic, Bedrock) reported them; 0 for the others.
 */
export function anthropicUsage(o: GenerateOutcome) {
  const writes = o.usage.cacheWriteTokens ?? 0;
  const written1h = o.usage.cacheWrite1hTokens ?? 0;
  return {
    input_tokens: o.usage.inputTokens - o.usage.cachedInputTokens - writes,
    output_tokens: o.usage.outputTokens,
    cache_read_input_tokens: o.usage.cachedInputTokens,
    cache_creation_input_tokens: writes,
    cache_creation: { ephemeral_5m_input_tokens: writes - written1h, ephemeral_1h_input_tokens: written1h },
  };
}

/** A tool call's JSON arguments as Anthropic's `input` object (a model's broken JSON becomes {}). */
function inputOf(args: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(args);
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function extras(o: GenerateOutcome) {
  return {
    provider: o.provider,
    cost: { input_cost: usdNumber(o.cost.inputCost), output_cost: usdNumber(o.cost.outputCost), total_cost: usdNumber(o.cost.totalCost) },
  };
}

export function toMessage(o: GenerateOutcome) {
  return {
    id: o.id.startsWith("msg_") ? o.id : `msg_${o.id}`,
    type: "message" as const,
    role: "assistant" as const,
    model: o.model,
    content: [
      ...(o.reasoning ?? []),
      ...(o.text || !o.toolCalls?.length ? [{ type: "text" as const, text: o.text }] : []),
      ...(o.toolCalls ?? []).map((c) => ({ type: "tool_use" as const, id: c.id, name: c.name, input: inputOf(c.arguments) })),
    ],
    stop_reason: anthropicStopReason(o.finishReason),
    stop_sequence: null,
    usage: anthropicUsage(o),
    ...extras(o),
  };
}

/**
 * Anthropic's event sequence: message_start, then per content block content_block_start,
 * content_block_delta (text_delta or input_json_delta)... and content_block_stop, then
 * message_delta with the stop reason and usage, and message_stop. The usage is only known at the
 * end (an OpenAI stream reports it last), so message_start says 0 and message_delta carries every
 * count; the SDK takes message_delta's counts when present.
 */
export function messageEventEncoder(opts: { id: string; model: string }): StreamEncoder<GenerationEvent> {
  let started = false;
  let blocks = 0;
  /** The open block: its index and kind (text, or the tool call it holds). */
  let open: { index: number; tool?: number } | undefined;
  const toolBlock = new Map<number, number>();
  const reasoningBlock = new Map<number, number>();
  const ev = (event: string, data: Record<string, unknown>): Frame => ({ event, data: { type: event, ...data } });
  const close = (out: Frame[]) => {
    if (open) out.push(ev("content_block_stop", { index: open.index }));
    open = undefined;
  };
  const start = (out: Frame[], model: string) => {
    if (started) return;
    started = true;
    out.push(
      ev("message_start", {
        message: {
          id: opts.id,
          type: "message",
          role: "assistant",
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 0, output_tokens: 0 },
        },
      }),
      ev("ping", {}),
    );
  };
  return {
    frames(event) {
      const out: Frame[] = [];
      start(out, event.type === "done" ? event.outcome.model : event.model);
      if (event.type === "reasoning") {
        // Reasoning blocks come first, each in its own content block, with its signature kept.
        let index = reasoningBlock.get(event.index);
        if (index === undefined) {
          close(out);
          index = blocks++;
          reasoningBlock.set(event.index, index);
          open = { index };
          out.push(
            ev("content_block_start", {
              index,
              content_block:
                event.kind === "thinking"
                  ? { type: "thinking", thinking: "", signature: "" }
                  : { type: "redacted_thinking", data: event.data ?? "" },
            }),
          );
        }
        if (event.thinking) out.push(ev("content_block_delta", { index, delta: { type: "thinking_delta", thinking: event.thinking } }));
        if (event.signature) out.push(ev("content_block_delta", { index, delta: { type: "signature_delta", signature: event.signature } }));
      } else if (event.type === "delta") {
        if (!open || open.tool !== undefined || [...reasoningBlock.values()].includes(open.index)) {
          close(out);
          open = { index: blocks++ };
          out.push(ev("content_block_start", { index: open.index, content_block: { type: "text", text: "" } }));
        }
        out.push(ev("content_block_delta", { index: open.index, delta: { type: "text_delta", text: event.text } }));
      } else if (event.type === "tool-call") {
        let index = toolBlock.get(event.index);
        if (index === undefined) {
          close(out);
          index = blocks++;
          toolBlock.set(event.index, index);
          open = { index, tool: event.index };
          out.push(
            ev("content_block_start", {
              index,
              content_block: { type: "tool_use", id: event.id ?? "", name: event.name ?? "", input: {} },
            }),
          );
        }
        // Providers stream one call after the other; a late piece of an earlier call still names its block.
        if (event.argumentsDelta)
          out.push(ev("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: event.argumentsDelta } }));
      } else if (event.type === "done") {
        if (blocks === 0) {
          // An empty reply still has its (empty) text block, as Anthropic's do.
          out.push(ev("content_block_start", { index: 0, content_block: { type: "text", text: "" } }));
          open = { index: blocks++ };
        }
        close(out);
        out.push(
          ev("message_delta", {
            delta: { stop_reason: anthropicStopReason(event.outcome.finishReason), stop_sequence: null },
            usage: anthropicUsage(event.outcome),
            ...extras(event.outcome),
          }),
          ev("message_stop", {}),
        );
      }
      return out;
    },
    end: () => [],
    error: (body) => [{ event: "error", data: body }],
  };
}
