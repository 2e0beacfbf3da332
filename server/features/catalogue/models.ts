import "server-only";
// The process-wide model catalogue (model-catalogue.ts) and the functions the rest of the service
// calls: resolve a model, list, price, check availability, edit. The catalogue's types are in
// model-types.ts.
import { getDatabase } from "../../db/index.ts";
import type { AuditActorLike } from "../../db/audit.ts";
import { onShutdown } from "../../kernel/lifecycle.ts";
import { BUILT_IN_PROVIDER_IDS, listProviders } from "../../providers/registry.ts";
import { type CatalogueEntry } from "./catalogue-data.ts";
import {
  type Availability,
  type CatalogueModel,
  type CatalogueState,
  type ModelFilter,
  type ModelPatch,
  type ModelPrice,
  type PriceHistoryEntry,
  type SyncReport,
} from "./model-types.ts";
import { ModelCatalogue } from "./model-catalogue.ts";
export {
  CATALOGUE_ACTOR,
  type ModelSource,
  type ModelPrice,
  type CatalogueModel,
  type PriceHistoryEntry,
  type Availability,
  type ModelFilter,
  type ModelPatch,
  type SyncReport,
  type CatalogueDatabase,
  type CatalogueState,
  type ModelCatalogueOptions,
  type Snapshot,
  type ModelRow,
  type PriceRow,
} from "./model-types.ts";
export { ModelCatalogue } from "./model-catalogue.ts";
export { perThousandTokens } from "./catalogue-rows.ts";
export { suggestNames } from "./model-names.ts";

// ---------------------------------------------------------------------------------------------
// The process-wide catalogue. On globalThis so that Next's route bundles and the node:http host
// share one cache (and one poller).

const g = globalThis as { __modelServiceCatalogueState?: CatalogueState };
let processCatalogue: ModelCatalogue | undefined;

export function modelCatalogue(): ModelCatalogue {
  processCatalogue ??= new ModelCatalogue({ database: getDatabase, state: (g.__modelServiceCatalogueState ??= {}) });
  return processCatalogue;
}

/** Tests and tools: use `catalogue` as this module's process-wide catalogue (undefined: the default again). */
export function installModelCatalogue(catalogue: ModelCatalogue | undefined): void {
  processCatalogue = catalogue;
}

/** Tests: forgets the shared cache (and stops its polling) so that the next use starts afresh. */
export function resetModelCatalogueForTests(): void {
  const state = g.__modelServiceCatalogueState;
  if (state?.timer) clearInterval(state.timer);
  g.__modelServiceCatalogueState = undefined;
  processCatalogue = undefined;
}

/**
 * Loads the data file into the database and the cache. With `watch` (the default; the server),
 * keeps polling for changes made by other instances until shutdown; the CLI passes false.
 */
export async function syncCatalogue(options: { watch?: boolean } = {}): Promise<SyncReport> {
  const catalogue = modelCatalogue();
  const report = await catalogue.sync();
  if (options.watch ?? true) {
    catalogue.watch();
    onShutdown("model catalogue", () => catalogue.stop());
  }
  return report;
}

/**
 * Resolves once the cache holds the database's catalogue. Before that (a process that never
 * synced), the functions below answer from the shipped data file, without admin edits.
 */
export function catalogueReady(): Promise<void> {
  return modelCatalogue().ready();
}

export function resolveModel(idOrAlias: string): CatalogueModel {
  return modelCatalogue().resolve(idOrAlias);
}

export function listModels(filter?: ModelFilter): CatalogueModel[] {
  return modelCatalogue().list(filter);
}

export function pricingFor(idOrAlias: string, at?: Date): ModelPrice {
  return modelCatalogue().pricingFor(idOrAlias, at);
}

export function priceHistory(idOrAlias: string): PriceHistoryEntry[] {
  return modelCatalogue().priceHistory(idOrAlias);
}

export function modelAvailability(model: CatalogueModel | string): Availability {
  return modelCatalogue().availability(model);
}

export type ModelProviderInfo = {
  id: string;
  name: string;
  /** OpenAI itself (its base URL may point at any compatible server) or an OPENAI_COMPATIBLE_PROVIDERS entry: an admin can add models served by it. */
  openAICompatible: boolean;
  available: boolean;
  reason: string | null;
};

/** The providers models can be served by, with whether each is configured (and why not). */
export function modelProviders(): ModelProviderInfo[] {
  return listProviders().map((p) => {
    const status = p.status();
    return {
      id: p.id,
      name: p.name,
      openAICompatible: p.id === "openai" || !BUILT_IN_PROVIDER_IDS.has(p.id),
      available: status.available,
      reason: status.available ? null : status.reason,
    };
  });
}

/** `actorId`: model_prices.changed_by; `actor`: who, for the audit log (the CLI when not given). */
export function updateModel(idOrAlias: string, patch: ModelPatch, actorId: string, actor?: AuditActorLike): Promise<CatalogueModel> {
  return modelCatalogue().update(idOrAlias, patch, actorId, actor);
}

export function createModel(
  entry: CatalogueEntry & { fallbacks?: string[] },
  actorId: string,
  actor?: AuditActorLike,
): Promise<CatalogueModel> {
  return modelCatalogue().create(entry, actorId, actor);
}
