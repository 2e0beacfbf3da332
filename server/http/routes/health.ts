import "server-only";
import { healthReport } from "../../services/system.ts";
import { endpoint, json, route } from "../endpoint.ts";

/** GET /health: each dependency's state; 200 when all configured ones answer, else 503. */
export const health = endpoint({
  GET: route({
    access: "public",
    doc: { summary: "Each dependency's state; 200 when all answer, else 503 (vectors never make it 503)" },
    handler: async () => {
      const report = await healthReport();
      return json(report, { status: report.status === "ok" ? 200 : 503, headers: { "Cache-Control": "no-store" } });
    },
  }),
});

/** GET /ping: liveness, with no dependency involved. */
export const ping = endpoint({
  GET: route({
    access: "public",
    doc: { summary: "Liveness: {status: \"ok\", message: \"pong\"}" },
    handler: async () => json({ status: "ok", message: "pong" }, { headers: { "Cache-Control": "no-store" } }),
  }),
});
