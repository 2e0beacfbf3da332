# syntax=docker/dockerfile:1
# Model Service image: docker build -t model-service . && docker run -p 8003:8003 --env-file .env model-service
#
# Three stages: deps (every npm package, the Prisma client generated) → build (`npm run build`:
# next build with output: "standalone", then scripts/bundle-server.mjs) → runtime (Debian slim,
# the node binary, and .next/standalone as the unprivileged `node` user, about 280 MB in all).
#
# .next/standalone is the whole production server: Next's server.js, the compiled pages and
# routes, our server entry and CLI compiled into server/main.mjs and server/cli.mjs, and only the
# node_modules files these load (traced, as Next traces its own). No TypeScript sources, no tsx,
# no build tools, no npm: the runtime stage starts from Debian, not from the node image, and takes
# only /usr/local/bin/node from it.
#
# What the container runs: our server entry (server/host/main.ts, as `npm start` does), not Next's bare
# `server.js`. The entry applies pending migrations before it listens, serves the API on the lean
# node:http host (Next only for the dashboard), and on SIGTERM drains in-flight requests and flushes
# the queued usage events before it exits; server.js would exit at once on SIGTERM and drop them.
# The same image runs the CLI: `node server/cli.mjs <command>` (the Helm migration Job: `db migrate`).
# `node server.js` still works in the image (Next alone; migrations then run on the first database
# use) and is checked in CI (scripts/e2e.mjs). scripts/test-image.mjs builds and runs this file.

ARG NODE_IMAGE=docker.io/library/node:24-bookworm-slim
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

# ---- deps: every package, from the lockfile ----------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NEXT_TELEMETRY_DISABLED=1 PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
# The postinstall script (prisma generate) needs the schema and its config.
COPY package.json package-lock.json prisma.config.ts ./
COPY scripts/prisma-generate.mjs ./scripts/
COPY prisma/schema.prisma ./prisma/
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund

# ---- build: next build, then the server entry and the CLI compiled into the standalone output --
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV NEXT_TELEMETRY_DISABLED=1 NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY . .
COPY --from=deps /app/server/db/generated ./server/db/generated
RUN npm run build

# ---- runtime -----------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
# The official node image's unprivileged user, same name and numbers.
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
ENV NODE_ENV=production \
    NEXT_TELEMETRY_DISABLED=1 \
    PORT=8003 \
    HOST=0.0.0.0 \
    HOSTNAME=0.0.0.0 \
    DATA_DIR=/app/.data
# The production server (see the top of this file).
COPY --from=build /app/.next/standalone ./
# The browser assets, which the standalone output leaves out (there is no public/ folder).
COPY --from=build /app/.next/static ./.next/static
# DATA_DIR (the embedded database when DATABASE_URL is unset, the generated AUTH_SECRET, the usage
# spool) and Next's cache are the only places the process writes; mount a volume on /app/.data to
# keep them. (/app/.data is also where DATA_DIR=./.data from a copied .env.example points.)
RUN mkdir -p /app/.data /app/.next/cache && chown -R node:node /app/.data /app/.next/cache
# By number, so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 8003
# /health: 200 when the database (and Redis, when configured) answer; 503 otherwise.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8003)+'/health',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))"]
# Node as PID 1 is fine here: the entry handles SIGTERM and SIGINT itself and spawns no children.
CMD ["node", "server/main.mjs"]
