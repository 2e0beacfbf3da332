export { vectorCollection, vectorCollections, vectorDocuments, vectorPoints, vectorSearch } from "./vectors.rest.ts";
export { vectorsRouter } from "./vectors.router.ts";
export { vectorHealth } from "./vectors.ts";
