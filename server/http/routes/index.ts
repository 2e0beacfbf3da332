import "server-only";
// Every Web handler that the lean node:http host serves itself, before Next's pipeline.
// The app/ route files re-export the same handlers, so both hosts answer alike.
import type { LeanRoute } from "../../host/node-adapter.ts";
import { health, ping } from "./health.ts";

export const leanRoutes: readonly LeanRoute[] = [
  { pattern: "/health", handlers: health },
  { pattern: "/ping", handlers: ping },
];
