# syntax=docker/dockerfile:1
# Model Service image: docker build -t model-service . && docker run -p 8003:8003 --env-file .env model-service
#
# Three stages: deps (all npm packages, the Prisma client generated) → build (next build with
# output: "standalone", then dev packages pruned) → runtime (the standalone output, the production
# packages and the server sources, as a non-root user).
#
# What the container runs: our server entry (server/main.ts, as `npm start` does) on top of the
# standalone output, not Next's bare `server.js`. The entry applies pending migrations before it
# listens, serves the API on the lean node:http host (Next only for the dashboard), and on SIGTERM
# drains in-flight requests and flushes the queued usage events before it exits; server.js would
# exit at once on SIGTERM and drop them. The same image runs the CLI (the Helm migration Job:
# `db migrate`), which needs the sources and packages anyway. `node server.js` still works in the
# image (Next alone; migrations then run on the first database use) and is checked in CI
# (scripts/e2e.mjs).

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- deps: every package, from the lockfile ----------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NEXT_TELEMETRY_DISABLED=1 PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
# The postinstall script (prisma generate) needs the schema and its config.
COPY package.json package-lock.json prisma.config.ts ./
COPY scripts/prisma-generate.mjs ./scripts/
COPY prisma/schema.prisma ./prisma/
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund

# ---- build: next build, then keep only the production packages --------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV NEXT_TELEMETRY_DISABLED=1 NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY . .
COPY --from=deps /app/server/db/generated ./server/db/generated
RUN npx next build
RUN npm prune --omit=dev --no-audit --no-fund

# ---- runtime -----------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    NEXT_TELEMETRY_DISABLED=1 \
    PORT=8003 \
    HOST=0.0.0.0 \
    HOSTNAME=0.0.0.0 \
    DATA_DIR=/app/.data
# Next's standalone output: server.js, the server build in .next, the traced node_modules.
COPY --from=build /app/.next/standalone ./
# The browser assets, which the standalone output leaves out (there is no public/ folder).
COPY --from=build /app/.next/static ./.next/static
# The production packages over the traced ones (the server entry and the CLI import more than
# Next's pages do), and what the entry and the CLI read at run time.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/server ./server
COPY --from=build /app/prisma ./prisma
COPY --from=build /app/scripts/server-only-hook.mjs ./scripts/
COPY --from=build /app/package.json /app/tsconfig.json /app/next.config.ts /app/prisma.config.ts ./
# DATA_DIR (the embedded database when DATABASE_URL is unset, the generated AUTH_SECRET, the usage
# spool) and Next's cache are the only places the process writes; mount a volume on /app/.data to
# keep them. (/app/.data is also where DATA_DIR=./.data from a copied .env.example points.)
RUN mkdir -p /app/.data /app/.next/cache && chown -R node:node /app/.data /app/.next/cache
# The node image's unprivileged `node` user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 8003
# /health: 200 when the database (and Redis, when configured) answer; 503 otherwise.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8003)+'/health',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))"]
# Node as PID 1 is fine here: the entry handles SIGTERM and SIGINT itself and spawns no children.
CMD ["node", "--import", "tsx", "--import", "./scripts/server-only-hook.mjs", "server/main.ts"]
