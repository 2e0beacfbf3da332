// Helpers shared by the provider adapter tests (not a test file itself).
import { expect } from "vitest";
import type { OpenAIChatProvider } from "./openai.ts";
import {
  ProviderError,
  type CallOptions,
  type GenerateRequest,
  type GenerateResult,
  type Provider,
  type StreamPart,
  type WireChatRequest,
} from "./types.ts";

export async function collect(stream: AsyncIterable<StreamPart>): Promise<StreamPart[]> {
  const parts: StreamPart[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

/** The parts a stream yielded before it failed, and the failure (undefined if it did not fail). */
export async function collectUntilError(stream: AsyncIterable<StreamPart>): Promise<{ parts: StreamPart[]; error: unknown }> {
  const parts: StreamPart[] = [];
  try {
    for await (const part of stream) parts.push(part);
  } catch (error) {
    return { parts, error };
  }
  return { parts, error: undefined };
}

export function deltas(parts: StreamPart[]): string[] {
  return parts.flatMap((p) => (p.type === "text-delta" ? [p.text] : []));
}

/** Awaits `promise`, expects it to reject with a ProviderError, and returns that error. */
export async function providerError(promise: Promise<unknown>): Promise<ProviderError> {
  let caught: unknown;
  try {
    await promise;
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ProviderError);
  return caught as ProviderError;
}

/**
 * An OpenAI-wire adapter whose chat calls take its passthrough (openai-wire.ts) instead of the SDK:
 * the body is the one the SDK path would send for the request (`chatParams`), the answer is read
 * back into the same GenerateResult and StreamParts, so the adapters' contract tests run on both paths.
 * Embeddings, model lists and the connection test stay the adapter's own.
 */
export function viaPassthrough(
  provider: Provider,
  /** The body the SDK path would send (OpenAIChatProvider.chatParams); the passthrough sets the model. */
  chatParams: (request: GenerateRequest) => object = (r) => (provider as OpenAIChatProvider).chatParams(r),
): Provider {
  const wire = () => {
    if (!provider.passthrough) throw new Error(`${provider.name} has no passthrough`);
    return provider.passthrough;
  };
  const wireRequest = (request: GenerateRequest, stream: boolean): WireChatRequest => ({
    model: request.model,
    body: chatParams(request) as Record<string, unknown>,
    stream,
    answerModel: request.model,
  });
  return Object.assign(Object.create(provider) as Provider, {
    async generateText(request: GenerateRequest, options?: CallOptions): Promise<GenerateResult> {
      if (provider.status().available === false) return provider.generateText(request, options);
      const { body: _body, ...result } = await wire().chat(wireRequest(request, false), options);
      return result;
    },
    async *streamText(request: GenerateRequest, options?: CallOptions): AsyncGenerator<StreamPart, void, undefined> {
      if (provider.status().available === false) return yield* provider.streamText(request, options);
      for await (const part of wire().streamChat(wireRequest(request, true), options)) {
        if (part.type === "finish") {
          const { usageChunk: _chunk, ...finish } = part;
          yield finish;
          continue;
        }
        if (part.text) yield { type: "text-delta", text: part.text };
        for (const call of part.toolCalls ?? []) yield call;
      }
    },
  });
}
