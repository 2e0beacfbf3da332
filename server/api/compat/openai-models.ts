import "server-only";
// The catalogue in OpenAI's model-list shape: {object: "list", data: [{id, object: "model",
// created, owned_by}]}. Listed are the models a caller can use now (enabled, provider configured);
// GET /v1/llm/models has the whole catalogue with prices and reasons.
import { AppError } from "../../kernel/errors.ts";
import type { Identity } from "../../access/identity.ts";
import { modelAllowed } from "../../access/model-access.ts";
import { listModels, modelAvailability, resolveModel, type CatalogueModel } from "../../features/catalogue/index.ts";

export type OpenAIModel = { id: string; object: "model"; created: number; owned_by: string };

/**
 * `created`, in epoch seconds: the date in a snapshot id (gpt-4o-2024-08-06, claude-3-haiku-20240307),
 * else when the catalogue row last changed. The catalogue has no release dates; a date in the id is one.
 */
export function createdOf(m: CatalogueModel): number {
  const d = /(20\d\d)-?(0[1-9]|1[0-2])-?([0-2]\d|3[01])(?!\d)/.exec(m.id);
  const at = d ? Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3])) : m.updatedAt.getTime();
  return Math.floor(at / 1000);
}

export function toOpenAIModel(m: CatalogueModel): OpenAIModel {
  return { id: m.id, object: "model", created: createdOf(m), owned_by: m.provider };
}

/** The usable models; for a key with an allow-list, only those on it. */
export function openaiModelList(identity: Identity): { object: "list"; data: OpenAIModel[] } {
  return {
    object: "list",
    data: listModels()
      .filter((m) => modelAvailability(m).available && modelAllowed(identity, m.id))
      .map(toOpenAIModel),
  };
}

/** One model by id or alias; 404 (model_not_found) when unknown, or when it cannot be used now (with why). */
export function openaiModel(idOrAlias: string, identity: Identity): OpenAIModel {
  const model = resolveModel(idOrAlias);
  // A model outside the key's allow-list is not there for it, as in the list.
  if (!modelAllowed(identity, model.id))
    throw new AppError("not_found", `The model \`${idOrAlias}\` is not one this API key may use`, { model: idOrAlias });
  const availability = modelAvailability(model);
  if (!availability.available) {
    throw new AppError("not_found", `The model \`${idOrAlias}\` cannot be used: ${availability.reason ?? "it is unavailable"}`, {
      model: idOrAlias,
    });
  }
  return toOpenAIModel(model);
}
