// Counting tokens ourselves, for the one case a provider reports none: a stream cut short before
// its usage arrived. o200k_base is OpenAI's current encoding; for other providers it is a close
// estimate (documented in the README), which beats recording zero tokens for text that was paid for.
import { countTokens } from "gpt-tokenizer/encoding/o200k_base";
import type { ChatMessage } from "../../providers/types.ts";

/** Tokens of a chat prompt: each message's content plus a small per-message overhead, as OpenAI counts. */
export function countPromptTokens(messages: readonly ChatMessage[]): number {
  let total = 3; // every reply is primed with <|start|>assistant<|message|>
  for (const m of messages) total += 3 + countTokens(m.content) + countTokens(m.role);
  return total;
}

export function countTextTokens(text: string): number {
  return text ? countTokens(text) : 0;
}

/**
 * Our count made into an upper estimate of a provider's: other tokenizers (Anthropic's, older
 * OpenAI encodings) and message framing count somewhat more, so a quarter more and a little.
 */
export function tokenBound(counted: number): number {
  return Math.ceil(counted * 1.25) + 16;
}

/**
 * An upper estimate of a chat request's input tokens (for reserving its cost before the call):
 * the messages with their tool calls, the tools offered and a response schema. Infinity when a
 * message has images, whose token cost depends on the provider and the model; the caller then
 * counts the model's whole context window.
 */
export function promptTokenBound(request: {
  messages: readonly ChatMessage[];
  tools?: readonly unknown[];
  responseFormat?: unknown;
}): number {
  let counted = countPromptTokens(request.messages);
  for (const m of request.messages) {
    if (m.parts?.some((p) => p.type === "image")) return Number.POSITIVE_INFINITY;
    for (const c of m.toolCalls ?? []) counted += countTokens(`${c.name} ${c.arguments}`) + 3;
  }
  if (request.tools?.length) counted += countTokens(JSON.stringify(request.tools));
  if (request.responseFormat) counted += countTokens(JSON.stringify(request.responseFormat));
  return tokenBound(counted);
}
