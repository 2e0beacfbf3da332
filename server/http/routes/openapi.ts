import "server-only";
// GET /v1/openapi.json: the OpenAPI 3.1 document of the REST API (public: it holds no secrets).
import { openApiDocument } from "../openapi.ts";
import { endpoint, json, route } from "../endpoint.ts";

export const openApi = endpoint({
  GET: route({
    access: "public",
    doc: { summary: "This document: OpenAPI 3.1 for every REST endpoint (public)" },
    handler: async () => {
      // Imported when asked, not at load: index.ts lists this route (a static import would be a cycle).
      const { leanRoutes } = await import("./index.ts");
      return json(openApiDocument(leanRoutes), { headers: { "Cache-Control": "public, max-age=300" } });
    },
  }),
});
