// The HTTP host: one node:http server that answers the lean routes (server/http/routes) itself
// and hands everything else to Next's request handler. Also owns graceful shutdown.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { closeDb, getDatabase, getDb } from "../db/index.ts";
import { loadEnv } from "../kernel/env.ts";
import { startRuntimeProviders } from "../providers/registry.ts";
import { AppError } from "../kernel/errors.ts";
import { stampClientAddress } from "../access/client-address.ts";
import { errorResponse, HTTP_METHODS, methodNotAllowed, noEndpoint, type HttpMethod } from "../http/endpoint.ts";
import { requestIdFrom } from "../web/request-id.ts";
import { getLogger } from "../kernel/logger.ts";
import { leanRoutes } from "../api/routes.ts";
import { interruptAll, runShutdownHooks } from "../kernel/lifecycle.ts";
import { getRedis, redisConnected } from "../kernel/redis.ts";
import { startBudgetAlerts } from "../features/budgets/budget-alerts.ts";
import { syncCatalogue } from "../features/catalogue/models.ts";
import { startStoredDeployments } from "../features/routing/index.ts";
import { startBodyRetention, usageWriter } from "../features/usage/usage.ts";
import { pathOf } from "../web/node-request.ts";
import { type LeanRoute, matchRoute } from "../web/handler.ts";
import { sendWebResponse, serveWithHandler } from "./node-adapter.ts";

type NodeHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export type HostOptions = {
  port: number;
  host: string;
  log: Logger;
  /** Next's request handler for everything the lean routes do not answer; none in API-only tests. */
  fallback?: NodeHandler;
  /** The routes answered without Next; server/http/routes by default. */
  routes?: readonly LeanRoute[];
  /** How long in-flight requests may take to finish after a shutdown signal. */
  gracePeriodMs?: number;
};

export type RunningHost = {
  server: Server;
  url: string;
  /** Stops accepting, lets in-flight requests finish, runs the shutdown hooks, closes the database. */
  shutdown: (reason: string) => Promise<void>;
};

export async function startHost(options: HostOptions): Promise<RunningHost> {
  const { log } = options;
  await getDb(); // opens the database and applies pending migrations before the first request
  await syncCatalogue(); // the model catalogue into the database and the in-process cache
  await startRuntimeProviders(getDatabase); // the providers an admin stored at run time, kept in step with the table
  await startStoredDeployments(); // the deployments an admin added in the dashboard, likewise
  usageWriter(); // replays an earlier run's spooled usage now, and its final flush is a hook from the start
  startBudgetAlerts(); // alerts after each usage flush; webhook deliveries (and a restart's leftovers)
  startBodyRetention(); // stored request bodies past REQUEST_LOG_RETENTION_DAYS deleted, hourly
  if (getRedis()) await redisConnected(); // the first requests count their limits in Redis, not in memory
  let inFlight = 0;
  let drained: (() => void) | undefined;

  const server = createServer((req, res) => {
    // Who the client is (TRUST_PROXY), for per-client limits: REST and Next's pages read the same stamp.
    stampClientAddress(req);
    inFlight++;
    res.once("close", () => {
      inFlight--;
      if (inFlight === 0) drained?.();
    });
    void dispatch(req, res, options).catch((err: unknown) => {
      // The caller's request id when it sent one, in the log line, the body and X-Request-Id alike.
      const requestId = requestIdOf(req);
      const reqLog = log.child({ requestId });
      reqLog.error({ err }, "request failed in the host");
      if (res.headersSent) return void res.destroy();
      void sendWebResponse(res, withRequestId(errorResponse(err, requestId, reqLog), requestId), req);
    });
  });
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;

  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string) => {
    stopping ??= (async () => {
      log.info({ reason, inFlight }, "shutting down: no new connections, finishing in-flight requests");
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = options.gracePeriodMs ?? loadEnv().SHUTDOWN_GRACE_MS;
      if (inFlight > 0) {
        await Promise.race([
          new Promise<void>((resolve) => (drained = resolve)),
          new Promise<void>((resolve) => setTimeout(resolve, grace).unref()),
        ]);
      }
      // Streams still running are cut now: each records its usage (client_closed, the tokens so
      // far) before the connections close and before the usage writer's final flush.
      const cut = interruptAll((err) => log.error({ err }, "recording an interrupted stream failed"));
      if (cut > 0 || inFlight > 0) log.warn({ streams: cut, requests: inFlight }, "grace period over: cutting what is still running");
      server.closeAllConnections();
      await closed;
      await runShutdownHooks((name, error) =>
        error ? log.error({ hook: name, err: error }, "shutdown hook failed") : log.info({ hook: name }, "shutdown hook done"),
      );
      await closeDb();
      log.info("shut down cleanly");
    })();
    return stopping;
  };

  return { server, url, shutdown };
}

/** A Host header as RFC 9110 has it: a name or IPv4 address, or an IPv6 literal, and an optional port. */
const VALID_HOST = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

async function dispatch(req: IncomingMessage, res: ServerResponse, options: HostOptions): Promise<void> {
  // Nothing here is built from the Host header (server/web/node-request.ts); a malformed one is the
  // client's mistake, answered 400 (RFC 9110) before any route, ours or Next's, sees it.
  const host = req.headers.host;
  if (host && !VALID_HOST.test(host)) {
    return refuse(req, res, new AppError("invalid_request", "The Host header is not a host name or address (with an optional :port)"));
  }
  const pathname = pathOf(req.url).split("?")[0]!;
  const method = (req.method ?? "GET").toUpperCase();
  const match = matchRoute(options.routes ?? leanRoutes, pathname);
  // With SERVE_API_THROUGH_NEXT, Next's route files (which re-export the same handlers) answer instead,
  // except a method outside the seven that Next's route files can export (Next answers those 400).
  if (match?.malformed) {
    // Next answers these 500 (it cannot decode the parameter either): refused here on both hosts.
    return refuse(req, res, new AppError("invalid_request", `The path parameter ${match.malformed} is not valid percent-encoding`));
  }
  const viaNext = options.fallback && loadEnv().SERVE_API_THROUGH_NEXT;
  if (match && !(viaNext && (HTTP_METHODS as readonly string[]).includes(method))) {
    const handlers = match.route.handlers;
    const handler = (HTTP_METHODS as readonly string[]).includes(method)
      ? handlers[method as HttpMethod]
      : (r: Request) => Promise.resolve(methodNotAllowed(handlers, r));
    return serveWithHandler(req, res, handler, match.params);
  }
  // A path under /v1 or /api that no route serves (but Auth.js's /api/auth, which Next serves): a JSON
  // 404 in its family's error shape (Next's catch-all route files answer the same), not Next's page.
  if (options.fallback && (!isApiPath(pathname) || viaNext)) return options.fallback(req, res);
  return serveWithHandler(req, res, noEndpoint.GET, {});
}

const isApiPath = (pathname: string) => /^\/(v1|api)(\/|$)/.test(pathname) && !/^\/api\/auth(\/|$)/.test(pathname);

/** Answers a caller's mistake in the JSON error shape, with a request id. */
function refuse(req: IncomingMessage, res: ServerResponse, error: AppError): Promise<void> {
  const requestId = requestIdOf(req);
  return sendWebResponse(res, withRequestId(errorResponse(error, requestId, getLogger().child({ requestId })), requestId), req);
}

/** The caller's X-Request-Id when it is usable, else a new one (as the wrappers choose it). */
function requestIdOf(req: IncomingMessage): string {
  const given = req.headers["x-request-id"];
  return requestIdFrom(new Headers(typeof given === "string" ? { "x-request-id": given } : {}));
}

function withRequestId(response: Response, requestId: string): Response {
  response.headers.set("X-Request-Id", requestId);
  return response;
}
