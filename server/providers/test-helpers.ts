// Helpers shared by the provider adapter tests (not a test file itself).
import { expect } from "vitest";
import { ProviderError, type StreamPart } from "./types.ts";

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
