import "server-only";
// A key's allow-list of models (its `allowedModels`, catalogue ids; empty: every model): a call for
// another model answers 403 naming the model and the list, in the caller's API family's error shape
// (the wrappers shape every AppError), and the model lists show such a key only its models.
import { AppError } from "../kernel/errors.ts";
import type { Identity } from "./identity.ts";

/** The models the caller may use, or null for every model. */
export function allowedModelsOf(identity: Identity): readonly string[] | null {
  const list = identity.kind === "apiKey" ? identity.controls?.allowedModels : undefined;
  return list && list.length > 0 ? list : null;
}

/** Whether the caller may use `model` (by its catalogue id). */
export function modelAllowed(identity: Identity, modelId: string): boolean {
  const list = allowedModelsOf(identity);
  return list === null || list.includes(modelId);
}

/** 403 unless the caller may use `modelId`; `asked` is the name the request used (an alias, say). */
export function requireModelAllowed(identity: Identity, modelId: string, asked: string = modelId): void {
  const list = allowedModelsOf(identity);
  if (list === null || list.includes(modelId)) return;
  const named = asked === modelId ? modelId : `${asked} (${modelId})`;
  throw new AppError("forbidden", `This API key may not use the model ${named}; it may use: ${list.join(", ")}`, {
    model: modelId,
    allowed_models: [...list],
  });
}
