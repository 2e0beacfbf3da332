import "server-only";
// tRPC: the context, the procedures and the one place where domain errors (AppError) and zod
// errors become tRPC errors. Every procedure is made by `procedure(policy)` with the same
// AccessPolicy as a REST route (server/access/policy.ts): access level, scope, rate limit (the REST
// twin's name, or the default) and body limit, enforced in the same order, and each one's input
// walked for depth and unstorable text before zod or anything recursive sees it.
import { initTRPC, TRPCError } from "@trpc/server";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";
import type { Logger } from "pino";
import superjson from "superjson";
import { z } from "zod";
import { DatabaseUnavailable, getDb, isDatabaseUnavailable } from "../db/index.ts";
import { AppError, type ErrorCode, unexpectedError, zodIssues } from "../kernel/errors.ts";
import { admit, countCall, type AccessPolicy } from "../access/policy.ts";
import { clientAddressFrom } from "../access/client-address.ts";
import { requestIdFrom } from "../web/request-id.ts";
import { getLogger } from "../kernel/logger.ts";
import { ANONYMOUS, authenticate, type AuthenticatedIdentity, type Identity } from "../access/auth.ts";
import { rateLimitHeaders } from "../access/rate-limits.ts";
import { inputProblem } from "../kernel/validation.ts";

export type Context = {
  identity: Identity;
  requestId: string;
  log: Logger;
  /** The Prisma client, opened on first use. */
  db: typeof getDb;
  /** Set when the credential was refused (or could not be checked): non-public procedures answer with it. */
  authError?: AppError;
  /** Headers of the HTTP response (rate-limit headers go here); absent for server-side callers. */
  resHeaders?: Headers;
};

/** What each procedure declares: its access policy (read by the HTTP handler for body limits, and by the fuzz suite). */
export type ProcedureMeta = { policy: AccessPolicy };

/**
 * The context of one tRPC request: the caller from the same `authenticate` as REST (key, JWT or
 * session cookie), authenticated once for all the calls of a batch. It never throws: a refused
 * credential, or a failure to check it, is kept and answered by each procedure that needs a caller,
 * so every error goes through the formatter with this request id.
 */
export async function createContext({
  req,
  resHeaders,
  requestId,
}: {
  req: Request;
  resHeaders?: Headers;
  requestId?: string;
}): Promise<Context> {
  const id = requestId ?? requestIdFrom(req.headers);
  const log = getLogger().child({ requestId: id });
  let identity: Identity = ANONYMOUS;
  let authError: AppError | undefined;
  try {
    identity = await authenticate(req.headers, { clientAddress: clientAddressFrom(req.headers) ?? undefined });
  } catch (e) {
    if (e instanceof AppError) authError = e;
    else if (isDatabaseUnavailable(e)) authError = new DatabaseUnavailable();
    else {
      log.error({ err: e }, "unhandled error while authenticating a tRPC request");
      authError = unexpectedError(id);
    }
  }
  return { identity, requestId: id, log, db: getDb, authError, resHeaders };
}

const TRPC_CODE: Record<ErrorCode, TRPC_ERROR_CODE_KEY> = {
  invalid_request: "BAD_REQUEST",
  unauthorized: "UNAUTHORIZED",
  budget_exceeded: "PAYMENT_REQUIRED",
  forbidden: "FORBIDDEN",
  model_disabled: "FORBIDDEN",
  not_found: "NOT_FOUND",
  method_not_allowed: "METHOD_NOT_SUPPORTED",
  conflict: "CONFLICT",
  payload_too_large: "PAYLOAD_TOO_LARGE",
  unsupported_media_type: "UNSUPPORTED_MEDIA_TYPE",
  rate_limited: "TOO_MANY_REQUESTS",
  internal_error: "INTERNAL_SERVER_ERROR",
  provider_error: "BAD_GATEWAY",
  unavailable: "SERVICE_UNAVAILABLE",
  timeout: "GATEWAY_TIMEOUT",
};

/** An AppError as the TRPCError that carries its code; anything else is left to the formatter. */
export function toTRPCError(err: unknown): unknown {
  if (err instanceof AppError) return new TRPCError({ code: TRPC_CODE[err.code], message: err.message, cause: err });
  return err;
}

/**
 * A call's input that was refused while it was decoded (nested too deep, unstorable text, a
 * superjson annotation that does not apply): the procedure's input guard answers 400 with it, so
 * the other calls of a batch still run.
 */
class RefusedInput {
  constructor(readonly error: AppError) {}
}

function refusal(problem: { field: string; message: string }): AppError {
  const field = problem.field === "(root)" ? "" : `${problem.field}: `;
  return new AppError("invalid_request", `Invalid input: ${field}${problem.message}`, {
    issues: [{ field: problem.field, message: problem.message }],
  });
}

// Inputs are checked as JSON, before superjson copies them (recursively) and applies its annotations.
const transformer = {
  input: {
    serialize: (value: unknown) => superjson.serialize(value),
    deserialize: (value: unknown) => {
      const envelope = (value ?? {}) as { json?: unknown; meta?: unknown };
      const problem =
        inputProblem(envelope.json) ??
        (inputProblem(envelope.meta) && { field: "(superjson meta)", message: "nests too deep or holds unstorable text" });
      if (problem) return new RefusedInput(refusal(problem));
      try {
        return superjson.deserialize(value as Parameters<typeof superjson.deserialize>[0]);
      } catch (e) {
        return new RefusedInput(
          new AppError("invalid_request", `Invalid input: its superjson encoding does not decode (${(e as Error).message})`),
        );
      }
    },
  },
  output: superjson,
};

const t = initTRPC
  .context<Context>()
  .meta<ProcedureMeta>()
  .create({
    transformer,
    errorFormatter({ shape, error, ctx }) {
      const cause = error.cause;
      const appError = cause instanceof AppError ? cause : undefined;
      const zodError = cause instanceof z.ZodError ? zodIssues(cause) : undefined;
      const internal = error.code === "INTERNAL_SERVER_ERROR" && !appError;
      if (internal) ctx?.log.error({ err: cause ?? error }, "unhandled error in tRPC procedure");
      return {
        ...shape,
        // An unexpected error never shows its internals; the request id leads to the log line.
        // A refused input says which field and why in words (tRPC's own message is the issues as JSON,
        // which the dashboard's forms would show as it is).
        message: internal
          ? unexpectedError(ctx?.requestId ?? "?").message
          : zodError?.length
            ? `Invalid input: ${zodError.map((i) => `${i.field}: ${i.message}`).join("; ")}`
            : shape.message,
        data: {
          ...shape.data,
          stack: undefined,
          appCode: appError?.code ?? null,
          // What the REST twin's error has in `details` (a 429's limit and retry time, a 413's limit...).
          details: appError?.details ?? null,
          zodError: zodError ?? null,
          requestId: ctx?.requestId ?? null,
        },
      };
    },
  });

/** Turns AppErrors thrown inside any procedure into the matching tRPC error. */
const mapErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.cause instanceof AppError) throw toTRPCError(result.error.cause);
  // The database down or hung is SERVICE_UNAVAILABLE (503), never an internal error.
  if (!result.ok && isDatabaseUnavailable(result.error.cause)) throw toTRPCError(new DatabaseUnavailable());
  return result;
});

/** Refuses an input that was refused while decoding, or (server-side callers) that is nested too deep or holds unstorable text. */
const guardInput = t.middleware(async ({ getRawInput, next }) => {
  const raw = await getRawInput();
  if (raw instanceof RefusedInput) throw toTRPCError(raw.error);
  const problem = inputProblem(raw);
  if (problem) throw toTRPCError(refusal(problem));
  return next();
});

export const createTRPCRouter = t.router;
export const createCallerFactory = t.createCallerFactory;

/** The policy of a procedure that needs a caller (a public one is `publicProcedure`). */
export type CallerPolicy = AccessPolicy & { access: "user" | "admin" };

/**
 * A procedure under an access policy, as a REST route declares one: access level and scope, then
 * the rate limit (X-RateLimit-* on the response; past it 429 with Retry-After and the limit in
 * `data.details`, as the REST twin answers), then the input guard, then the procedure's own input.
 */
export function procedure(policy: CallerPolicy) {
  return t.procedure
    .meta({ policy })
    .use(mapErrors)
    .use(async ({ ctx, next }) => {
      let identity: AuthenticatedIdentity;
      try {
        identity = admit(policy, ctx.identity, ctx.authError);
        const state = await countCall(policy, identity);
        if (state) for (const [k, v] of Object.entries(rateLimitHeaders(state))) ctx.resHeaders?.set(k, v);
      } catch (e) {
        if (e instanceof AppError && e.headers) for (const [k, v] of Object.entries(e.headers)) ctx.resHeaders?.set(k, v);
        throw toTRPCError(e);
      }
      return next({ ctx: { ...ctx, identity } });
    })
    .use(guardInput);
}

/** Anyone; never rate limited (like /health and /ping). */
export const publicProcedure = t.procedure
  .meta({ policy: { access: "public" } })
  .use(mapErrors)
  .use(guardInput);
/** Any authenticated caller, under the default rate limit. */
export const protectedProcedure = procedure({ access: "user" });
/** An admin caller, under the default rate limit. */
export const adminProcedure = procedure({ access: "admin" });
