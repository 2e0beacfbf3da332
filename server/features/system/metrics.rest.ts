import "server-only";
// GET /metrics: Prometheus text exposition. An admin caller or `Authorization: Bearer
// <METRICS_TOKEN>` (the scraper) may read it; it is never rate limited.
import { metricsText } from "../../kernel/metrics.ts";
import { endpoint, route } from "../../http/endpoint.ts";

export const metrics = endpoint({
  GET: route({
    access: "metrics",
    doc: { summary: "Prometheus metrics (admin key, admin session or Bearer METRICS_TOKEN)", contentType: "text/plain; version=0.0.4" },
    rateLimit: false,
    handler: async () => {
      const { body, contentType } = await metricsText();
      return new Response(body, { headers: { "Content-Type": contentType, "Cache-Control": "no-store" } });
    },
  }),
});
