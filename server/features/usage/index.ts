export {
  ATTRIBUTION_HEADERS,
  ATTRIBUTION_LIMITS,
  attributionIdSchema,
  attributionInput,
  attributionOf,
  metadataSchema,
  NO_ATTRIBUTION,
  tagsSchema,
  type Attribution,
  type AttributionInput,
  type Metadata,
} from "./attribution.ts";
export { llmSavings } from "./savings.rest.ts";
export { bodyLogging, type LoggedBody } from "./request-bodies.ts";
export { llmRequest, llmRequests, llmRequestsExport, llmSession } from "./requests.rest.ts";
export { addDays } from "./time-zones.ts";
export { UsageWriter, type UsageEventInput } from "./usage-writer.ts";
export { embeddingUsage, llmCost, llmUsage } from "./usage.rest.ts";
export { usageRouter } from "./usage.router.ts";
export { onUsageWritten, recordCall, startBodyRetention, usageWriter, type AttemptLog } from "./usage.ts";
export { recordedCall, type RecordedCall } from "./usage-call.ts";
