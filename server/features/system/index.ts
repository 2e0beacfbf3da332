export { health, ping } from "./health.rest.ts";
export { metrics } from "./metrics.rest.ts";
export { systemRouter } from "./system.router.ts";
