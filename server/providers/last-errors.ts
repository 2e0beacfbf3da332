import "server-only";
// The last failure of each provider, by provider id, in memory: what the dashboard's Providers page
// shows beside a provider's status. Written where each adapter turns an SDK failure into a
// ProviderError (errors.ts `recordFailure`), so no caller has to remember to; the message is
// scrubbed of the provider's secrets once more before it is kept. Per process (each instance shows
// what it saw), on globalThis so that the lean host and Next's bundles share one record.
import { ProviderError } from "./types.ts";

export type LastProviderError = {
  message: string;
  kind: ProviderError["kind"];
  status: number | null;
  at: Date;
};

const g = globalThis as unknown as { __modelServiceLastProviderErrors?: Map<string, LastProviderError> };

function record(): Map<string, LastProviderError> {
  return (g.__modelServiceLastProviderErrors ??= new Map());
}

/** Keeps `error` as the provider's last error (the message already scrubbed by the caller). */
export function setLastProviderError(providerId: string, error: ProviderError, message: string, at = new Date()): void {
  record().set(providerId, { message, kind: error.kind, status: error.status ?? null, at });
}

export function lastProviderError(providerId: string): LastProviderError | undefined {
  return record().get(providerId);
}

/** Tests: forget every recorded error. */
export function resetLastProviderErrorsForTests(): void {
  g.__modelServiceLastProviderErrors = undefined;
}
