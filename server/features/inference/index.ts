export { llmGenerateEmbeddings } from "./embeddings.rest.ts";
export { embeddingsRouter } from "./embeddings.router.ts";
export { embeddingModel, generateEmbeddings, type EmbedContext, type EmbedOutcome } from "./embeddings.ts";
export { llmGenerate } from "./generate.rest.ts";
export { generationRouter } from "./generation.router.ts";
export {
  generate,
  generateStream,
  passthroughServes,
  type GenerateInput,
  type GenerateOutcome,
  type GenerationEvent,
} from "./generation.ts";
export { DEPLOYMENT_HEADER, deploymentTracker } from "./deployment-header.ts";
export { EMBED_POLICY, GENERATE_POLICY } from "./policies.ts";
