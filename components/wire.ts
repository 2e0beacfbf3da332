// The wire types of the dashboard's components: every tRPC procedure's input and output as the
// typed client (`model-service/client`) infers them from the router, and the OpenAPI document's
// shape for the API reference. Components take their wire types from here and do not spell them
// again; this is the one module of components/ that names a server module, and only its types
// (erased at build time; tests/architecture holds it to that).
export type { AppRouter, RouterInputs, RouterOutputs } from "@/client";
export type { OpenApiDocument, OpenApiOperation, OpenApiParameter } from "@/server/api/openapi";
