// Counting tokens ourselves, for the one case a provider reports none: a stream cut short before
// its usage arrived. o200k_base is OpenAI's current encoding; for other providers it is a close
// estimate (documented in the README), which beats recording zero tokens for text that was paid for.
import { countTokens } from "gpt-tokenizer/encoding/o200k_base";
import type { ChatMessage } from "../providers/types.ts";

/** Tokens of a chat prompt: each message's content plus a small per-message overhead, as OpenAI counts. */
export function countPromptTokens(messages: readonly ChatMessage[]): number {
  let total = 3; // every reply is primed with <|start|>assistant<|message|>
  for (const m of messages) total += 3 + countTokens(m.content) + countTokens(m.role);
  return total;
}

export function countTextTokens(text: string): number {
  return text ? countTokens(text) : 0;
}
