import "server-only";
// What a call would cost: a model's current price (or the price at a given moment) applied to a
// token count, exactly as the usage recorder prices a real call (pricing.ts `costOf`).
import { AppError } from "../../kernel/errors.ts";
import { catalogueReady, perThousandTokens, pricingFor, resolveModel } from "./models.ts";
import { costOf, type Cost } from "./pricing.ts";

export type CostQuery = {
  model: string;
  inputTokens: number;
  outputTokens: number;
  /** Input tokens read from the provider's cache (part of inputTokens). */
  cachedTokens?: number;
  /** Price at this moment; now by default. */
  at?: Date;
};

export type CostEstimate = Cost & {
  /** The canonical model id (an alias resolves to it). */
  model: string;
  provider: string;
  /** USD per 1K tokens, exact decimal strings; cachedInput is the input rate where the model has none. */
  per1K: { input: string; output: string; cachedInput: string };
};

export async function calculateCost(query: CostQuery): Promise<CostEstimate> {
  const cached = query.cachedTokens ?? 0;
  if (cached > query.inputTokens) {
    throw new AppError(
      "invalid_request",
      `cached_tokens (${cached}) cannot exceed input_tokens (${query.inputTokens}): cached tokens are part of the input`,
      {
        field: "cached_tokens",
      },
    );
  }
  await catalogueReady();
  const model = resolveModel(query.model);
  const price = pricingFor(model.id, query.at);
  const cost = costOf(price, { inputTokens: query.inputTokens, outputTokens: query.outputTokens, cachedInputTokens: cached });
  return {
    ...cost,
    model: model.id,
    provider: model.provider,
    per1K: {
      input: perThousandTokens(price.inputPerMTok),
      output: perThousandTokens(price.outputPerMTok),
      cachedInput: perThousandTokens(price.cachedInputPerMTok ?? price.inputPerMTok),
    },
  };
}
