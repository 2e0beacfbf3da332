import "server-only";
// Any server of the OpenAI chat protocol (Ollama, vLLM, LM Studio, Groq, Together, OpenRouter):
// the OpenAI adapter with the server's base URL, an optional key, and the models it declares.
// Such servers differ from OpenAI in small ways, handled here: they take max_tokens rather than
// max_completion_tokens, may not encode embeddings as base64, and may need no key at all.
import type OpenAI from "openai";
import type { ProviderFetch } from "./http.ts";
import { OpenAIChatProvider } from "./openai.ts";
import type { ProviderModel } from "./types.ts";

export type CompatibleModel = string | { id: string; type: "chat" | "embedding" };

export type OpenAICompatibleConfig = {
  /** Stable id used in the catalogue, e.g. "ollama". */
  id: string;
  name?: string;
  /** The URL that /chat/completions is appended to, e.g. http://localhost:11434/v1. */
  baseUrl: string;
  apiKey?: string;
  /** Sent with every request (the configuration file's `headers`). */
  headers?: Record<string, string>;
  /** Models the server offers; strings are chat models. */
  models?: CompatibleModel[];
  maxEmbeddingsPerCall?: number;
  fetch?: ProviderFetch;
  /** The chat passthrough (openai-wire.ts); on unless false. */
  passthrough?: boolean;
};

function declared(models: CompatibleModel[] | undefined): ProviderModel[] {
  return (models ?? []).map((m) => (typeof m === "string" ? { id: m, type: "chat" as const } : m));
}

/**
 * The declared models, plus whatever the server's GET /models lists. The declared list is the
 * configuration and always answers; a server that cannot list its models adds nothing.
 */
async function listCompatibleModels(client: OpenAI, models: ProviderModel[]): Promise<ProviderModel[]> {
  const out = [...models];
  try {
    for await (const m of client.models.list()) {
      if (!out.some((d) => d.id === m.id)) out.push({ id: m.id, type: /embed/i.test(m.id) ? "embedding" : "chat" });
    }
  } catch {
    // Unreachable or no /models route: the declared list stands.
  }
  return out;
}

export function createOpenAICompatibleProvider(config: OpenAICompatibleConfig): OpenAIChatProvider {
  const models = declared(config.models);
  return new OpenAIChatProvider({
    id: config.id,
    name: config.name ?? config.id,
    baseURL: config.baseUrl,
    apiKey: config.apiKey,
    headers: config.headers,
    maxTokensField: "max_tokens",
    embeddingEncoding: "float",
    maxEmbeddingsPerCall: config.maxEmbeddingsPerCall,
    listModels: (client) => listCompatibleModels(client, models),
    fetch: config.fetch,
    passthrough: config.passthrough,
  });
}
