// The HTTP host: one node:http server that answers the lean routes (server/http/routes) itself
// and hands everything else to Next's request handler. Also owns graceful shutdown.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { closeDb, getDb } from "../db/index.ts";
import { loadEnv } from "../env.ts";
import { stampClientAddress } from "../http/client-address.ts";
import { errorResponse } from "../http/endpoint.ts";
import { requestIdFrom } from "../http/request-id.ts";
import { leanRoutes } from "../http/routes/index.ts";
import { interruptAll, runShutdownHooks } from "../lifecycle.ts";
import { getRedis, redisConnected } from "../redis.ts";
import { startBudgetAlerts } from "../services/budget-alerts.ts";
import { syncCatalogue } from "../services/models.ts";
import { usageWriter } from "../services/usage.ts";
import { type LeanRoute, matchRoute, sendWebResponse, serveWithHandler } from "./node-adapter.ts";

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
  usageWriter(); // replays an earlier run's spooled usage now, and its final flush is a hook from the start
  startBudgetAlerts(); // alerts after each usage flush; webhook deliveries (and a restart's leftovers)
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
      log.error({ err }, "request failed in the host");
      if (!res.headersSent) void sendWebResponse(res, errorResponse(err, requestIdFrom(new Headers()), log));
      else res.destroy();
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

async function dispatch(req: IncomingMessage, res: ServerResponse, options: HostOptions): Promise<void> {
  const pathname = (req.url ?? "/").split("?")[0] ?? "/";
  // With SERVE_API_THROUGH_NEXT, Next's route files (which re-export the same handlers) answer instead.
  const lean = !(options.fallback && loadEnv().SERVE_API_THROUGH_NEXT);
  const match = lean ? matchRoute(options.routes ?? leanRoutes, pathname) : undefined;
  if (match) {
    const method = (req.method ?? "GET").toUpperCase() as keyof typeof match.route.handlers;
    const handler = match.route.handlers[method] ?? match.route.handlers.POST;
    return serveWithHandler(req, res, handler, match.params);
  }
  if (options.fallback) return options.fallback(req, res);
  res.writeHead(404, { "content-type": "application/json; charset=utf-8" });
  res.end(JSON.stringify({ error: { code: "not_found", message: `No endpoint at ${pathname}` } }));
}
