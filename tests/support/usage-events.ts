// Usage events for tests, metered the way a served call is (usageEvent and recordCall of
// server/features/usage/usage.ts): a test names what matters to it (who, which model, how much it
// cost) and the service's own metering fills in the rest, so a new column is one change there.
import { ANONYMOUS, type Identity } from "../../server/access/identity.ts";
import { formatUsd, parseUsd, type Price } from "../../server/features/catalogue/pricing.ts";
import { recordCall, usageEvent, type CallRecord } from "../../server/features/usage/usage.ts";
import type { UsageEventInput } from "../../server/features/usage/usage-writer.ts";

export type TestCall = Partial<Omit<CallRecord, "identity" | "usage">> & {
  /** The caller; or only its key and user (`identity` wins). */
  identity?: Identity;
  apiKeyId?: string | null;
  userId?: string | null;
  usage?: Partial<NonNullable<CallRecord["usage"]>>;
  /**
   * What the call cost in USD, exactly: the price becomes the one at which its input tokens cost
   * that (output free). Instead of `price`.
   */
  costUsd?: string;
};

/** A caller with just a key and a user (scopes and tier do not reach a usage event). */
function callerOf(apiKeyId: string | null, userId: string | null): Identity {
  const caller = { userId, role: "user", tier: "standard", scopes: [] } as const;
  if (apiKeyId) return { kind: "apiKey", apiKeyId, ...caller, scopes: [] };
  if (userId) return { kind: "session", email: null, ...caller, userId, apiKeyId: null, scopes: [] };
  return ANONYMOUS;
}

/** The price at which `inputTokens` input tokens cost exactly `usd`. */
function priceFor(usd: string, inputTokens: number): Price {
  const pico = parseUsd(usd);
  // A price has six decimals per 1M tokens: a whole number of picodollars per token.
  if (inputTokens <= 0 || pico % BigInt(inputTokens) !== 0n) throw new Error(`${usd} USD is not a whole price for ${inputTokens} tokens`);
  const picoPerToken = pico / BigInt(inputTokens);
  return { inputPerMTok: formatUsd(picoPerToken * 1_000_000n), outputPerMTok: "0" };
}

/** One call as the services hand it to recordCall: a successful generation by default. */
export function testCall(call: TestCall = {}): CallRecord {
  const { identity, apiKeyId = null, userId = null, costUsd, usage, ...rest } = call;
  const tokens = { inputTokens: 10, outputTokens: 10, cachedInputTokens: 0, reasoningTokens: 0, ...usage };
  return {
    endpoint: "/v1/llm/generate",
    kind: "llm",
    modelId: "gpt-4o-mini",
    provider: "openai",
    status: "success",
    stream: false,
    latencyMs: 5,
    ...rest,
    identity: identity ?? callerOf(apiKeyId, userId),
    usage: tokens,
    price: costUsd !== undefined ? priceFor(costUsd, tokens.inputTokens) : (rest.price ?? { inputPerMTok: "0.15", outputPerMTok: "0.6" }),
  };
}

/** The event the service meters for such a call (for a writer of the test's own). */
export function testUsageEvent(call: TestCall = {}): UsageEventInput {
  return usageEvent(testCall(call));
}

/** Records such a call through the process's writer, as a served call does; its cost and event id. */
export function recordTestCall(call: TestCall = {}) {
  return recordCall(testCall(call));
}
