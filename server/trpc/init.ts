import "server-only";
// tRPC: the context, the procedures (public, protected, admin) and the one place where domain
// errors (AppError) and zod errors become tRPC errors.
import { initTRPC, TRPCError } from "@trpc/server";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";
import type { Logger } from "pino";
import superjson from "superjson";
import { z } from "zod";
import { DatabaseUnavailable, getDb, isDatabaseUnavailable } from "../db/index.ts";
import { AppError, type ErrorCode, zodIssues } from "../errors.ts";
import { clientAddressFrom } from "../http/client-address.ts";
import { requestIdFrom } from "../http/request-id.ts";
import { getLogger } from "../logger.ts";
import { ANONYMOUS, authenticate, requireAdmin, requireAuthenticated, requireScope, type Identity, type Scope } from "../services/auth.ts";
import { checkRateLimit, rateLimitHeaders } from "../services/rate-limits.ts";

export type Context = {
  identity: Identity;
  requestId: string;
  log: Logger;
  /** The Prisma client, opened on first use. */
  db: typeof getDb;
  /** Set when the credential was rejected: protected procedures answer with it. */
  authError?: AppError;
  /** Headers of the HTTP response (rate-limit headers go here); absent for server-side callers. */
  resHeaders?: Headers;
};

/** The context of one tRPC request: the caller from the same `authenticate` as REST (key, JWT or session cookie). */
export async function createContext({ req, resHeaders }: { req: Request; resHeaders?: Headers }): Promise<Context> {
  const requestId = requestIdFrom(req.headers);
  const log = getLogger().child({ requestId });
  let identity: Identity = ANONYMOUS;
  let authError: AppError | undefined;
  try {
    identity = await authenticate(req.headers, { clientAddress: clientAddressFrom(req.headers) ?? undefined });
  } catch (e) {
    if (!(e instanceof AppError)) throw e;
    authError = e;
  }
  return { identity, requestId, log, db: getDb, authError, resHeaders };
}

const TRPC_CODE: Record<ErrorCode, TRPC_ERROR_CODE_KEY> = {
  invalid_request: "BAD_REQUEST",
  unauthorized: "UNAUTHORIZED",
  budget_exceeded: "PAYMENT_REQUIRED",
  forbidden: "FORBIDDEN",
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

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  errorFormatter({ shape, error, ctx }) {
    const cause = error.cause;
    const appCode = cause instanceof AppError ? cause.code : undefined;
    const zodError = cause instanceof z.ZodError ? zodIssues(cause) : undefined;
    const internal = error.code === "INTERNAL_SERVER_ERROR" && !appCode;
    if (internal) ctx?.log.error({ err: cause ?? error }, "unhandled error in tRPC procedure");
    return {
      ...shape,
      // An unexpected error never shows its internals; the request id leads to the log line.
      message: internal ? `Internal error. Quote request id ${ctx?.requestId ?? "?"} when reporting it.` : shape.message,
      data: {
        ...shape.data,
        stack: undefined,
        appCode: appCode ?? null,
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

export const createTRPCRouter = t.router;
export const createCallerFactory = t.createCallerFactory;

export const publicProcedure = t.procedure.use(mapErrors);

export const protectedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (ctx.authError) throw toTRPCError(ctx.authError);
  try {
    return next({ ctx: { ...ctx, identity: requireAuthenticated(ctx.identity) } });
  } catch (e) {
    throw toTRPCError(e);
  }
});

export const adminProcedure = publicProcedure.use(({ ctx, next }) => {
  if (ctx.authError) throw toTRPCError(ctx.authError);
  let identity;
  try {
    identity = requireAdmin(ctx.identity);
  } catch (e) {
    throw toTRPCError(e);
  }
  return next({ ctx: { ...ctx, identity } });
});

/**
 * Counts the call against the caller's `name` and tier limits, as the REST wrapper does, for
 * procedures that cost money: `protectedProcedure.use(rateLimit("generate"))`. Sets X-RateLimit-*
 * on the response; over the limit it answers TOO_MANY_REQUESTS with Retry-After.
 */
export function rateLimit(name: string) {
  return t.middleware(async ({ ctx, next }) => {
    if (ctx.identity.kind === "anonymous") return next();
    try {
      const state = await checkRateLimit(ctx.identity, name);
      if (state) for (const [k, v] of Object.entries(rateLimitHeaders(state))) ctx.resHeaders?.set(k, v);
    } catch (e) {
      if (e instanceof AppError && e.headers) for (const [k, v] of Object.entries(e.headers)) ctx.resHeaders?.set(k, v);
      throw toTRPCError(e);
    }
    return next();
  });
}

/** FORBIDDEN unless the caller holds `scope`: `protectedProcedure.use(requireScopeOf("usage:read"))`. */
export function requireScopeOf(scope: Scope) {
  return t.middleware(({ ctx, next }) => {
    try {
      requireScope(ctx.identity, scope);
    } catch (e) {
      throw toTRPCError(e);
    }
    return next();
  });
}
