import "server-only";
// OpenAI's chat completions protocol over our generation service: the request schema (zod, what
// the official SDK sends), the request as a GenerateInput, and the answer as a chat.completion or
// as chat.completion.chunk frames. Any model of the catalogue can answer, Anthropic's included:
// the provider adapters map messages, tools and finish reasons both ways.
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { safeString } from "../../kernel/validation.ts";
import {
  generationParameters,
  type ChatMessage,
  type ContentPart,
  type EveryGenerationParameter,
  type FinishReason,
  type ResponseFormat,
  type ToolDefinition,
} from "../../providers/types.ts";
import type { GenerateInput, GenerateOutcome, GenerationEvent } from "../../features/inference/index.ts";
import { usdNumber } from "../../features/catalogue/index.ts";
import { attributionIdSchema, metadataSchema } from "../../features/usage/index.ts";
import type { Frame, StreamEncoder } from "../../http/event-stream.ts";
import { withFields } from "../../providers/openai-wire.ts";

// ---------------------------------------------------------------------------------------------
// The request

const textPart = z.object({ type: z.literal("text"), text: safeString });
const imagePart = z.object({
  type: z.literal("image_url"),
  image_url: z.object({ url: safeString.min(1), detail: z.enum(["auto", "low", "high"]).nullish() }),
});
/** system, developer, assistant and tool content: a string or text parts. */
const textContent = z.union([safeString, z.array(textPart)]);
const userContent = z.union([
  safeString,
  z.array(z.discriminatedUnion("type", [textPart, imagePart]), { error: "content parts must be text or image_url" }).min(1),
]);
const toolCall = z.object({
  id: safeString.min(1),
  type: z.literal("function"),
  function: z.object({ name: safeString.min(1), arguments: safeString }),
});
const name = safeString.max(64).nullish();

const message = z.discriminatedUnion(
  "role",
  [
    z.object({ role: z.literal("system"), content: textContent, name }),
    z.object({ role: z.literal("developer"), content: textContent, name }),
    z.object({ role: z.literal("user"), content: userContent, name }),
    z.object({
      role: z.literal("assistant"),
      content: textContent.nullish(),
      tool_calls: z.array(toolCall).nullish(),
      refusal: safeString.nullish(),
      name,
    }),
    z.object({ role: z.literal("tool"), content: textContent, tool_call_id: safeString.min(1) }),
  ],
  { error: "role must be system, developer, user, assistant or tool" },
);

const functionName = safeString.regex(/^[a-zA-Z0-9_-]{1,64}$/, { error: "a function name is 1 to 64 letters, digits, _ or -" });

const tool = z.object({
  type: z.literal("function"),
  function: z.object({
    name: functionName,
    description: safeString.nullish(),
    parameters: z.record(safeString, z.unknown()).nullish(),
    strict: z.boolean().nullish(),
  }),
});

const toolChoice = z.union([
  z.enum(["none", "auto", "required"]),
  z.object({ type: z.literal("function"), function: z.object({ name: functionName }) }),
]);

const responseFormat = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    json_schema: z.object({
      name: safeString.min(1).max(64),
      description: safeString.nullish(),
      schema: z.record(safeString, z.unknown()).nullish(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

/**
 * POST /v1/chat/completions. OpenAI's own parameters (n, seed, logprobs, top_logprobs, penalties,
 * logit_bias, reasoning_effort, service_tier) reach OpenAI through the passthrough; served by another
 * provider, one it cannot honour answers 400 naming it and the provider (openAIOnlyParameter), and
 * seed and service_tier auto/default, which OpenAI itself treats as hints, are dropped. Other fields
 * OpenAI has and no provider here uses (store...) are accepted and ignored. `user` and
 * `metadata` are the call's attribution (features/usage attributionOf: the end user, and metadata
 * within its limits); `user` also goes to the provider, as before, the metadata never.
 */
export const chatCompletionBody = z
  .object({
    model: safeString.min(1, { error: "name a model, e.g. gpt-4o-mini" }),
    messages: z.array(message).min(1, { error: "send at least one message" }),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().min(0).max(1).nullish(),
    max_tokens: z.number().int().positive().nullish(),
    max_completion_tokens: z.number().int().positive().nullish(),
    stop: z.union([safeString, z.array(safeString).max(4)]).nullish(),
    n: z.number().int().min(1).max(128).nullish(),
    stream: z.boolean().nullish(),
    // OpenAI's own parameters: passed through to OpenAI (the passthrough sends the body as it came);
    // on any other provider refused with a 400 naming it, unless it is a hint (openAIOnlyParameter).
    seed: z.number().int().nullish(),
    logprobs: z.boolean().nullish(),
    top_logprobs: z.number().int().min(0).max(20).nullish(),
    frequency_penalty: z.number().min(-2).max(2).nullish(),
    presence_penalty: z.number().min(-2).max(2).nullish(),
    logit_bias: z.record(safeString.max(20), z.number().min(-100).max(100)).nullish(),
    reasoning_effort: z.enum(["none", "minimal", "low", "medium", "high", "xhigh"]).nullish(),
    service_tier: z.enum(["auto", "default", "flex", "priority", "scale"]).nullish(),
    stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
    user: attributionIdSchema.nullish(),
    metadata: metadataSchema.nullish(),
    tools: z.array(tool).max(128).nullish(),
    tool_choice: toolChoice.nullish(),
    parallel_tool_calls: z.boolean().nullish(),
    response_format: responseFormat.nullish(),
  })
  .superRefine(refineToolChoice);

/** tool_choice names one of the tools, and comes only with tools. */
function refineToolChoice(
  body: { tools?: { function: { name: string } }[] | null; tool_choice?: z.infer<typeof toolChoice> | null },
  ctx: z.RefinementCtx,
): void {
  const choice = body.tool_choice;
  if (choice === undefined || choice === null || choice === "none" || choice === "auto") return;
  const names = (body.tools ?? []).map((t) => t.function.name);
  if (!names.length) ctx.addIssue({ code: "custom", path: ["tool_choice"], message: "tool_choice is only allowed when tools are given" });
  else if (typeof choice === "object" && !names.includes(choice.function.name)) {
    ctx.addIssue({
      code: "custom",
      path: ["tool_choice"],
      message: `names the function "${choice.function.name}", which is not among the tools`,
    });
  }
}

export type ChatCompletionBody = z.infer<typeof chatCompletionBody>;

/**
 * The first OpenAI-only parameter of `body` that a provider other than OpenAI's passthrough cannot
 * honour, with a default value left out: n above 1, logprobs, top_logprobs, non-zero penalties, a
 * logit_bias, reasoning_effort, a service tier other than auto/default. Dropped instead, as OpenAI
 * itself treats them as hints: seed (best-effort determinism) and service_tier auto/default.
 */
export function openAIOnlyParameter(body: ChatCompletionBody): string | undefined {
  if (body.n != null && body.n > 1) return "n";
  if (body.logprobs === true) return "logprobs";
  if (body.top_logprobs != null) return "top_logprobs";
  if (body.frequency_penalty != null && body.frequency_penalty !== 0) return "frequency_penalty";
  if (body.presence_penalty != null && body.presence_penalty !== 0) return "presence_penalty";
  if (body.logit_bias != null && Object.keys(body.logit_bias).length > 0) return "logit_bias";
  if (body.reasoning_effort != null) return "reasoning_effort";
  if (body.service_tier != null && body.service_tier !== "auto" && body.service_tier !== "default") return "service_tier";
  return undefined;
}

/**
 * The same body as read for a passthrough (features/inference passthroughServes): only the fields
 * the service itself reads are checked, with the same rules as `chatCompletionBody` (the model,
 * the messages' roles and text for the token estimates, stream, n, max tokens and sampling for the
 * budget and the cache); every other field is kept as the caller sent it, for the provider to judge.
 * Nesting and NUL characters are refused for the whole body at the edge (http/endpoint.ts).
 */
const wireText = z.union([safeString, z.array(z.looseObject({ type: safeString, text: safeString.optional() }))]);
const wireMessage = z.looseObject({
  role: z.enum(["system", "developer", "user", "assistant", "tool"], { error: "role must be system, developer, user, assistant or tool" }),
  content: wireText.nullish(),
  tool_calls: z.array(z.looseObject({ function: z.looseObject({ name: safeString, arguments: safeString }).optional() })).nullish(),
});
const whole = chatCompletionBody.shape;
export const chatCompletionWireBody = z
  .looseObject({
    model: whole.model,
    messages: z.array(wireMessage).min(1, { error: "send at least one message" }),
    temperature: whole.temperature,
    top_p: whole.top_p,
    max_tokens: whole.max_tokens,
    max_completion_tokens: whole.max_completion_tokens,
    n: whole.n,
    stream: whole.stream,
    stream_options: whole.stream_options,
    // Read for the usage event's attribution (features/usage/attribution.ts), and forwarded as sent.
    user: whole.user,
    metadata: whole.metadata,
    // Read for the prompt's token estimate (the budget's reservation), and checked as the whole body's.
    tools: whole.tools,
    tool_choice: whole.tool_choice,
    parallel_tool_calls: whole.parallel_tool_calls,
    response_format: whole.response_format,
  })
  .superRefine(refineToolChoice);
export type ChatCompletionWireBody = z.infer<typeof chatCompletionWireBody>;

/** A passthrough's input: the body as it came, and what the service reads of it in our terms. */
export function wireChatInput(body: ChatCompletionWireBody): GenerateInput {
  const messages: ChatMessage[] = body.messages.map((m) => {
    const role = m.role === "developer" ? "system" : m.role;
    const content =
      m.content === null || m.content === undefined
        ? ""
        : typeof m.content === "string"
          ? m.content
          : m.content.flatMap((p) => (typeof p.text === "string" ? [p.text] : [])).join("\n");
    const images = Array.isArray(m.content) && m.content.some((p) => p.type === "image_url");
    const calls = (m.tool_calls ?? []).flatMap((c) =>
      c.function ? [{ id: "", name: c.function.name, arguments: c.function.arguments }] : [],
    );
    return {
      role,
      content,
      // An image's token cost is the provider's to say: the budget estimate counts the whole window (tokens.ts).
      ...(images ? { parts: [{ type: "image" as const, url: "" }] } : {}),
      ...(calls.length ? { toolCalls: calls } : {}),
    };
  });
  return {
    model: body.model,
    messages,
    ...generationParameters({
      temperature: body.temperature ?? undefined,
      topP: body.top_p ?? undefined,
      maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
      tools: body.tools?.length ? body.tools.map(toTool) : undefined,
      responseFormat: body.response_format ? toResponseFormat(body.response_format) : undefined,
    }),
    wire: { body },
  };
}

function textOf(content: z.infer<typeof textContent> | null | undefined): string {
  if (content === null || content === undefined) return "";
  return typeof content === "string" ? content : content.map((p) => p.text).join("\n");
}

function toMessage(m: z.infer<typeof message>): ChatMessage {
  switch (m.role) {
    case "system":
    case "developer":
      return { role: "system", content: textOf(m.content) };
    case "user": {
      if (typeof m.content === "string") return { role: "user", content: m.content };
      const parts: ContentPart[] = m.content.map((p) =>
        p.type === "text"
          ? { type: "text", text: p.text }
          : { type: "image", url: p.image_url.url, ...(p.image_url.detail ? { detail: p.image_url.detail } : {}) },
      );
      const text = parts.flatMap((p) => (p.type === "text" ? [p.text] : [])).join("\n");
      return parts.some((p) => p.type === "image") ? { role: "user", content: text, parts } : { role: "user", content: text };
    }
    case "assistant": {
      const calls = m.tool_calls ?? [];
      return {
        role: "assistant",
        content: textOf(m.content),
        ...(calls.length ? { toolCalls: calls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })) } : {}),
      };
    }
    case "tool":
      return { role: "tool", content: textOf(m.content), toolCallId: m.tool_call_id };
  }
}

function toTool(t: z.infer<typeof tool>): ToolDefinition {
  return {
    name: t.function.name,
    // A function without parameters takes none; Anthropic requires the schema to say so.
    parameters: t.function.parameters ?? { type: "object", properties: {} },
    ...(t.function.description ? { description: t.function.description } : {}),
    ...(t.function.strict !== undefined && t.function.strict !== null ? { strict: t.function.strict } : {}),
  };
}

function toResponseFormat(f: z.infer<typeof responseFormat>): ResponseFormat {
  if (f.type !== "json_schema") return { type: f.type };
  const s = f.json_schema;
  return {
    type: "json_schema",
    name: s.name,
    schema: s.schema ?? { type: "object" },
    ...(s.description ? { description: s.description } : {}),
    ...(s.strict !== undefined && s.strict !== null ? { strict: s.strict } : {}),
  };
}

/** The body's generation parameters in our terms (every one named: providers/types.ts EveryGenerationParameter). */
function chatCompletionParameters(body: ChatCompletionBody): EveryGenerationParameter {
  const choice = body.tool_choice;
  return {
    temperature: body.temperature ?? undefined,
    topP: body.top_p ?? undefined,
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
    stop: typeof body.stop === "string" ? [body.stop] : (body.stop ?? undefined),
    user: body.user ?? undefined,
    tools: body.tools?.length ? body.tools.map(toTool) : undefined,
    toolChoice: choice === null || choice === undefined ? undefined : typeof choice === "string" ? choice : { name: choice.function.name },
    parallelToolCalls: body.parallel_tool_calls ?? undefined,
    responseFormat: body.response_format ? toResponseFormat(body.response_format) : undefined,
    // OpenAI's chat has reasoning_effort, not Anthropic's thinking (openAIOnlyParameter).
    thinking: undefined,
  };
}

export function chatCompletionInput(body: ChatCompletionBody): GenerateInput {
  return { model: body.model, messages: body.messages.map(toMessage), ...generationParameters(chatCompletionParameters(body)) };
}

// ---------------------------------------------------------------------------------------------
// The answer

type OpenAIFinishReason = "stop" | "length" | "tool_calls" | "content_filter";

export function openaiFinishReason(reason: FinishReason): OpenAIFinishReason {
  return reason === "length" || reason === "tool_calls" || reason === "content_filter" ? reason : "stop";
}

export function newCompletionId(): string {
  return `chatcmpl-${randomBytes(15).toString("base64url")}`;
}

/** OpenAI's usage object, from the provider's counts. */
export function openaiUsage(o: GenerateOutcome) {
  return {
    prompt_tokens: o.usage.inputTokens,
    completion_tokens: o.usage.outputTokens,
    total_tokens: o.usage.inputTokens + o.usage.outputTokens,
    prompt_tokens_details: { cached_tokens: o.usage.cachedInputTokens },
    completion_tokens_details: { reasoning_tokens: o.usage.reasoningTokens },
  };
}

/** Beyond OpenAI's fields: which provider answered and what it cost (SDKs ignore unknown fields). */
function extras(o: GenerateOutcome) {
  return {
    provider: o.provider,
    cost: { input_cost: usdNumber(o.cost.inputCost), output_cost: usdNumber(o.cost.outputCost), total_cost: usdNumber(o.cost.totalCost) },
  };
}

/** A passthrough answer: the upstream's JSON text as it came, with our fields (provider, cost) added. */
export function toWireChatCompletion(body: string, o: GenerateOutcome): string {
  return withFields(body, extrasJson(o));
}

function extrasJson(o: GenerateOutcome): string {
  const e = JSON.stringify(extras(o));
  return e.slice(1, -1);
}

export function toChatCompletion(o: GenerateOutcome, created: number) {
  const toolCalls = o.toolCalls ?? [];
  return {
    id: o.id.startsWith("chatcmpl-") ? o.id : `chatcmpl-${o.id}`,
    object: "chat.completion" as const,
    created,
    model: o.model,
    choices: [
      {
        index: 0,
        message: {
          role: "assistant" as const,
          // OpenAI sends null content beside tool calls when there is no text.
          content: toolCalls.length && !o.text ? null : o.text,
          refusal: null,
          ...(toolCalls.length
            ? {
                tool_calls: toolCalls.map((c) => ({
                  id: c.id,
                  type: "function" as const,
                  function: { name: c.name, arguments: c.arguments },
                })),
              }
            : {}),
        },
        logprobs: null,
        finish_reason: openaiFinishReason(o.finishReason),
      },
    ],
    usage: openaiUsage(o),
    system_fingerprint: null,
    ...extras(o),
  };
}

/**
 * chat.completion.chunk frames: a first chunk with the role, content and tool-call deltas, a chunk
 * with the finish reason, then (with include_usage) a chunk with `choices: []` and the usage, and
 * `data: [DONE]`. With include_usage every other chunk carries `usage: null`, as OpenAI's do.
 */
export function chatChunkEncoder(opts: {
  id: string;
  created: number;
  includeUsage: boolean;
  model: string;
}): StreamEncoder<GenerationEvent> {
  let model = opts.model;
  let started = false;
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): Frame => ({
    data: {
      id: opts.id,
      object: "chat.completion.chunk",
      created: opts.created,
      model,
      system_fingerprint: null,
      choices,
      ...(opts.includeUsage ? { usage: null } : {}),
      ...extra,
    },
  });
  const delta = (d: Record<string, unknown>, finish: OpenAIFinishReason | null = null) =>
    chunk([{ index: 0, delta: d, logprobs: null, finish_reason: finish }]);
  return {
    frames(event) {
      // A passthrough stream: its chunks as they came; at the end the usage chunk, if asked for, with our fields.
      if (event.type === "wire") return [{ data: event.data }];
      if (event.type === "done" && event.outcome.wire) {
        const usageChunk = event.outcome.wire.usageChunk;
        return opts.includeUsage && usageChunk !== undefined ? [{ data: withFields(usageChunk, extrasJson(event.outcome)) }] : [];
      }
      // Anthropic's reasoning blocks have no place in OpenAI's chunks (and `thinking` is not an OpenAI parameter).
      if (event.type === "reasoning") return [];
      const out: Frame[] = [];
      model = event.type === "done" ? event.outcome.model : event.model;
      if (!started) {
        started = true;
        out.push(delta({ role: "assistant", content: "", refusal: null }));
      }
      if (event.type === "delta") out.push(delta({ content: event.text }));
      else if (event.type === "tool-call") {
        const fn: Record<string, string> = { arguments: event.argumentsDelta };
        if (event.name) fn.name = event.name;
        out.push(delta({ tool_calls: [{ index: event.index, ...(event.id ? { id: event.id, type: "function" } : {}), function: fn }] }));
      } else {
        out.push(delta({}, openaiFinishReason(event.outcome.finishReason)));
        if (opts.includeUsage) out.push(chunk([], { usage: openaiUsage(event.outcome), ...extras(event.outcome) }));
      }
      return out;
    },
    end: () => [{ data: "[DONE]" }],
    // OpenAI ends a failed stream with an error object and no [DONE]; the SDK raises it as an APIError.
    error: (body) => [{ data: body }],
  };
}
