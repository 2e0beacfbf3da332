// Domain errors: a typed code, mapped once to an HTTP status (REST) and once to a tRPC code.
// Services throw AppError; adapters (server/http, server/trpc) translate it, nothing else does.
import { z } from "zod";

export const ERROR_STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  budget_exceeded: 402,
  forbidden: 403,
  /** A model an admin disabled: no retry helps, so not a 503. */
  model_disabled: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal_error: 500,
  provider_error: 502,
  unavailable: 503,
  timeout: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/**
 * The server code is loaded twice in one process (by the node:http host, and inside Next's route
 * bundles) and objects cross between the copies through globalThis singletons. `instanceof` against
 * one copy's class would miss the other copy's errors, so it checks a process-wide brand instead.
 */
export function brandedInstanceCheck(brand: symbol): (value: unknown) => boolean {
  return (value) => typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

const APP_ERROR = Symbol.for("model-service.AppError");
const isAppError = brandedInstanceCheck(APP_ERROR);

export class AppError extends Error {
  static [Symbol.hasInstance](value: unknown): boolean {
    return isAppError(value);
  }
  readonly [APP_ERROR] = true;
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    /** Extra response headers, e.g. Retry-After for rate_limited. */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = "AppError";
    this.status = ERROR_STATUS[code];
  }
}

export type FieldIssue = { field: string; message: string };

/** Zod issues as `{field, message}` pairs, with the field written as a path such as `messages[0].role`. */
export function zodIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => ({
    field: formatPath(issue.path),
    message: issue.message,
  }));
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || "(root)";
}

/** A ZodError as an invalid_request AppError whose message names the first bad field. */
export function fromZodError(error: z.ZodError, where: string): AppError {
  const issues = zodIssues(error);
  const first = issues[0];
  const message = first ? `Invalid ${where}: ${first.field === "(root)" ? "" : `${first.field}: `}${first.message}` : `Invalid ${where}`;
  return new AppError("invalid_request", message, { issues });
}

/**
 * What an unexpected failure (a bug, a dependency's surprise) answers, on both wrappers: no
 * internals, only the request id, which is in the log line and in the X-Request-Id header.
 */
export function unexpectedError(requestId: string): AppError {
  return new AppError("internal_error", `Internal error. Quote request id ${requestId} when reporting it.`, { request_id: requestId });
}
