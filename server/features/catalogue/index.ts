export { calculateCost } from "./cost.ts";
export { models } from "./models.rest.ts";
export { modelsRouter } from "./models.router.ts";
export { catalogueReady, listModels, modelAvailability, pricingFor, resolveModel, syncCatalogue, type CatalogueModel } from "./models.ts";
export {
  COST_PARTS,
  costOf,
  dearestInputRate,
  dearestOutputRate,
  formatUsd,
  normalServiceTier,
  parseUsd,
  usdNumber,
  type Cost,
  type CostBreakdown,
  type Pico,
  type Price,
  type PricedCost,
} from "./pricing.ts";
export { providersRouter } from "./providers.router.ts";
export { embeddingResize, samplingFixed } from "./catalogue-data.ts";
