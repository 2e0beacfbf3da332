// The model catalogue's vocabulary, as both the server (server/features/catalogue) and the
// dashboard's models page and playground know it.

/** What a model does: chat (text generation) or embedding. */
export const MODEL_TYPES = ["chat", "embedding"] as const;
export type ModelType = (typeof MODEL_TYPES)[number];

/** What a catalogue entry may list as its capabilities. */
export const CAPABILITIES = [
  "text-generation",
  "code-generation",
  "analysis",
  "vision",
  "function-calling",
  "reasoning",
  "embeddings",
] as const;
export type Capability = (typeof CAPABILITIES)[number];

/** The capability a new model of `type` gets when none is chosen. */
export function defaultCapability(type: ModelType): Capability {
  return type === "embedding" ? "embeddings" : "text-generation";
}

const PROVIDER_NAMES: Record<string, string> = { openai: "OpenAI", anthropic: "Anthropic", local: "Local" };

/** A provider id as the dashboard shows it: "openai" → "OpenAI"; other ids as they are. */
export function providerName(id: string): string {
  return PROVIDER_NAMES[id] ?? id;
}
