// `npm run test:e2e`: builds the app (skipped with E2E_SKIP_BUILD=1), checks that the standalone
// output starts with `node server.js` (checkStandalone; E2E_STANDALONE_CHECK=0 skips it), starts the production server
// on a free port with a fresh embedded database (and two more for the REST suite, one per host: as
// `npm start` and with SERVE_API_THROUGH_NEXT=1, each with an admin API key, and one configured for single sign-on),
// waits for /health, runs Playwright against it
// (extra arguments go to `playwright test`), then stops the server and removes its data folder.
// Exits with Playwright's code. E2E_VERBOSE=1 streams the server's output.
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => path.join(root, "node_modules", ".bin", name);
const HEALTH_TIMEOUT_MS = 90_000;
const KILL_GRACE_MS = 5_000;
const verbose = process.env.E2E_VERBOSE === "1";

function log(message) {
  process.stdout.write(`[e2e] ${message}\n`);
}

/** Runs a command to completion with inherited output; resolves with its exit code. */
function run(command, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, env, stdio: "inherit" });
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/** Runs a command to completion; resolves with its exit code and what it printed on stdout. */
function runCapture(command, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, env, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk) => (out += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), out }));
  });
}

const CLI = ["--import", "tsx", "--import", "./scripts/server-only-hook.mjs", "server/cli/main.ts"];

/** An admin API key on the database of the server that `env` describes (through the CLI). */
async function createAdminKey(env, name) {
  const { code, out } = await runCapture(process.execPath, [...CLI, "keys", "create", "--name", name, "--admin", "--json"], {
    ...env,
    LOG_LEVEL: "warn",
  });
  if (code !== 0) throw new Error(`creating the API key ${name} failed (exit ${code})`);
  return JSON.parse(out.trim().split("\n").at(-1)).key;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The server, in its own process group so that it and everything it spawned can be stopped. */
function startServer(env, { args, cwd } = {}) {
  // Plain node with tsx as a loader, as `npm start` runs it (no tsx CLI relaying signals).
  const child = spawn(process.execPath, args ?? ["--import", "tsx", "--import", "./scripts/server-only-hook.mjs", "server/host/main.ts"], {
    cwd: cwd ?? root,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = [];
  const collect = (stream, target) =>
    stream.on("data", (chunk) => {
      output.push(chunk);
      if (verbose) target.write(chunk);
    });
  collect(child.stdout, process.stdout);
  collect(child.stderr, process.stderr);
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const tail = () => {
    const text = Buffer.concat(output).toString("utf8");
    return text.length > 20_000 ? `…${text.slice(-20_000)}` : text;
  };
  return { child, exited, output: tail };
}

function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (err) {
    if (err.code === "ESRCH") return false;
    throw err;
  }
}

async function stopServer(server) {
  const { pid } = server.child;
  if (pid === undefined) return;
  signalGroup(pid, "SIGTERM");
  const stopped = await Promise.race([server.exited.then(() => true), sleep(KILL_GRACE_MS).then(() => false)]);
  if (!stopped) log(`server did not stop within ${KILL_GRACE_MS / 1000}s of SIGTERM: killing its process group`);
  // Also reaps anything the server left behind in its group.
  signalGroup(pid, "SIGKILL");
}

async function waitForHealth(baseUrl, server) {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  let last = "no answer";
  let exited = false;
  void server.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) return `the server exited before it was healthy`;
    try {
      const response = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(5_000) });
      if (response.status === 200) return undefined;
      last = `HTTP ${response.status}: ${(await response.text()).slice(0, 500)}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(500);
  }
  return `/health did not answer 200 within ${HEALTH_TIMEOUT_MS / 1000}s (last: ${last})`;
}

/**
 * The container image's base: Next's standalone output (`output: "standalone"`) must start with
 * `node server.js` once the static files are copied next to it, as the Dockerfile copies them, and
 * answer /health with 200 on a fresh embedded database (migrations run on its first use), and serve
 * a page with its assets. Returns a problem, or undefined. Skipped with E2E_STANDALONE_CHECK=0.
 */
async function checkStandalone(baseEnv) {
  const standalone = path.join(root, ".next", "standalone");
  if (!existsSync(path.join(standalone, "server.js")))
    return `no ${path.relative(root, standalone)}/server.js: is output: "standalone" set in next.config.mjs?`;
  cpSync(path.join(root, ".next", "static"), path.join(standalone, ".next", "static"), { recursive: true });
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-standalone-"));
  const baseUrl = `http://127.0.0.1:${port}`;
  const env = {
    ...baseEnv,
    NODE_ENV: "production",
    PORT: String(port),
    // Next's server.js listens on HOSTNAME (our entry reads HOST).
    HOSTNAME: "127.0.0.1",
    DATA_DIR: dataDir,
    DATABASE_URL: "",
  };
  log(`standalone check: node .next/standalone/server.js on ${baseUrl}`);
  const started = Date.now();
  const server = startServer(env, { args: ["server.js"], cwd: standalone });
  try {
    const problem = await waitForHealth(baseUrl, server);
    if (problem) return `standalone server.js: ${problem}\n${server.output()}`;
    const login = await fetch(`${baseUrl}/login`);
    const html = await login.text();
    if (login.status !== 200) return `standalone server.js: GET /login answered ${login.status}`;
    const asset = /\/_next\/static\/[^"']+\.(?:js|css)/.exec(html)?.[0];
    if (!asset) return "standalone server.js: the /login page references no /_next/static asset";
    const assetResponse = await fetch(`${baseUrl}${asset}`);
    await assetResponse.arrayBuffer();
    if (assetResponse.status !== 200) return `standalone server.js: ${asset} answered ${assetResponse.status} (static files not copied?)`;
    log(`standalone check passed in ${((Date.now() - started) / 1000).toFixed(1)}s: /health 200, /login and ${asset} 200`);
    return undefined;
  } finally {
    await stopServer(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main() {
  const baseEnv = { ...process.env, NEXT_TELEMETRY_DISABLED: "1" };

  if (process.env.E2E_SKIP_BUILD === "1") {
    log("E2E_SKIP_BUILD=1: using the existing build");
  } else {
    log("building: next build");
    const started = Date.now();
    const code = await run(bin("next"), ["build"], baseEnv);
    if (code !== 0) {
      log(`next build failed (exit ${code})`);
      return code;
    }
    log(`built in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  }

  if (process.env.E2E_STANDALONE_CHECK === "0") {
    log("E2E_STANDALONE_CHECK=0: not checking the standalone server.js");
  } else {
    const problem = await checkStandalone(baseEnv);
    if (problem) {
      log(problem);
      return 1;
    }
  }

  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-e2e-"));
  const baseUrl = `http://127.0.0.1:${port}`;
  const serverEnv = {
    ...baseEnv,
    NODE_ENV: "production",
    PORT: String(port),
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    // Empty rather than deleted, so a DATABASE_URL in .env cannot fill it in: the embedded database.
    DATABASE_URL: "",
    // The REST suite makes a few dozen generations a minute with one key (the default is 10), and
    // the dashboard specs, as one signed-in user, click through pages far faster than a person:
    // every tRPC call counts against the default limit (100 a minute).
    RATE_LIMITS: JSON.stringify({ generate: "600/minute" }),
    RATE_LIMIT_REQUESTS: "2000",
    // The budget-alerts spec's webhook receiver listens on this machine (users' webhooks reach only public addresses otherwise).
    WEBHOOK_ALLOW_PRIVATE: "127.0.0.1/32",
    // e2e/sign-in-limits.spec.ts tells its "clients" apart by X-Forwarded-For, as a proxy in front would write it.
    TRUST_PROXY: "1",
  };

  // Anthropic is served by the provider emulator (the playground streams from it); OpenAI stays
  // unconfigured, so the dashboard shows what an unavailable provider looks like.
  const emulatorPort = await freePort();
  const emulatorKey = "sk-ant-e2e-emulator-key";
  // The OpenAI protocol's key: e2e/providers.spec.ts adds an OpenAI-compatible provider with it in the dashboard.
  const emulatorOpenAIKey = "sk-e2e-emulator-openai-key-0123";
  const emulator = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "tests/emulators/main.ts",
      "--port",
      String(emulatorPort),
      "--anthropic-key",
      emulatorKey,
      "--openai-key",
      emulatorOpenAIKey,
    ],
    { cwd: root, env: baseEnv, detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  serverEnv.ANTHROPIC_API_KEY = emulatorKey;
  serverEnv.ANTHROPIC_BASE_URL = `http://127.0.0.1:${emulatorPort}`;
  serverEnv.OPENAI_API_KEY = "";

  log(`starting the server on ${baseUrl} (DATA_DIR ${dataDir})`);
  const server = startServer(serverEnv);
  // The REST suite (e2e/rest-api.spec.ts) runs once per host of the same build, each on a server
  // and embedded database of its own, so the dashboard specs above still start from an empty one:
  // "lean" as `npm start` serves the API, "next" with SERVE_API_THROUGH_NEXT=1 (Next's route files).
  const restServers = [];
  for (const host of ["lean", "next"]) {
    const port = await freePort();
    const restDataDir = mkdtempSync(path.join(tmpdir(), `model-service-e2e-rest-${host}-`));
    const env = { ...serverEnv, PORT: String(port), DATA_DIR: restDataDir, ...(host === "next" ? { SERVE_API_THROUGH_NEXT: "1" } : {}) };
    log(`starting the ${host} REST server on http://127.0.0.1:${port}${host === "next" ? " (SERVE_API_THROUGH_NEXT=1)" : ""}`);
    restServers.push({ host, env, dataDir: restDataDir, baseUrl: `http://127.0.0.1:${port}`, server: startServer(env) });
  }
  // The single sign-on spec (e2e/sso.spec.ts) signs in on a server of its own, configured for an
  // OpenID Connect provider that the spec itself starts (oidc-provider) on this port.
  const oidcIssuerPort = await freePort();
  const oidcClient = { id: "e2e-model-service", secret: `e2e-oidc-${Math.random().toString(36).slice(2)}-secret` };
  {
    const port = await freePort();
    const oidcDataDir = mkdtempSync(path.join(tmpdir(), "model-service-e2e-oidc-"));
    const env = {
      ...serverEnv,
      PORT: String(port),
      DATA_DIR: oidcDataDir,
      AUTH_OIDC_ISSUER: `http://127.0.0.1:${oidcIssuerPort}`,
      AUTH_OIDC_CLIENT_ID: oidcClient.id,
      AUTH_OIDC_CLIENT_SECRET: oidcClient.secret,
      AUTH_OIDC_SCOPE: "openid email profile groups",
      AUTH_OIDC_ALLOW_SIGNUP: "1",
      AUTH_OIDC_ALLOWED_DOMAINS: "sso.example.com",
      AUTH_OIDC_ADMIN_GROUPS: "model-service-admins",
    };
    log(`starting the single sign-on server on http://127.0.0.1:${port} (issuer port ${oidcIssuerPort})`);
    restServers.push({ host: "oidc", env, dataDir: oidcDataDir, baseUrl: `http://127.0.0.1:${port}`, server: startServer(env) });
  }
  let cleanedUp = false;
  const cleanup = async () => {
    if (cleanedUp) return;
    cleanedUp = true;
    for (const rest of restServers) {
      await stopServer(rest.server);
      rmSync(rest.dataDir, { recursive: true, force: true });
    }
    await stopServer(server);
    try {
      process.kill(-emulator.pid, "SIGTERM");
    } catch {
      // already gone
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  const onSignal = (signal) => {
    log(`${signal}: stopping the server`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  try {
    const started = Date.now();
    const problem = await waitForHealth(baseUrl, server);
    if (problem) {
      log(problem);
      log("server output:");
      process.stdout.write(server.output());
      return 1;
    }
    log(`server healthy after ${((Date.now() - started) / 1000).toFixed(1)}s`);
    for (const rest of restServers) {
      const restProblem = await waitForHealth(rest.baseUrl, rest.server);
      if (restProblem) {
        log(`the ${rest.host} REST server: ${restProblem}`);
        process.stdout.write(rest.server.output());
        return 1;
      }
      rest.apiKey = await createAdminKey(rest.env, `e2e-rest-${rest.host}`);
    }
    const [restLean, restNext, oidcServer] = restServers;
    // The dashboard needs a signed-in user: create one with the CLI (through the server's database),
    // and let Playwright's setup project sign in as it (e2e/auth.setup.ts).
    const user = { email: "e2e-admin@example.com", password: `e2e-${Math.random().toString(36).slice(2)}-password` };
    const created = await run(
      process.execPath,
      [
        "--import",
        "tsx",
        "--import",
        "./scripts/server-only-hook.mjs",
        "server/cli/main.ts",
        "users",
        "create",
        "--email",
        user.email,
        "--password",
        user.password,
        "--admin",
      ],
      { ...serverEnv, LOG_LEVEL: "warn" },
    );
    if (created !== 0) {
      log(`creating the e2e user failed (exit ${created})`);
      return 1;
    }
    log("created the e2e admin user; running Playwright");
    const code = await run(bin("playwright"), ["test", ...process.argv.slice(2)], {
      ...baseEnv,
      E2E_BASE_URL: baseUrl,
      E2E_LEAN_BASE_URL: restLean.baseUrl,
      E2E_LEAN_API_KEY: restLean.apiKey,
      E2E_NEXT_BASE_URL: restNext.baseUrl,
      E2E_NEXT_API_KEY: restNext.apiKey,
      E2E_USER_EMAIL: user.email,
      E2E_USER_PASSWORD: user.password,
      // Specs that run the CLI against the server's database (e2e/usage.spec.ts: seed-demo).
      E2E_DATA_DIR: dataDir,
      // The provider emulator and its OpenAI key (e2e/providers.spec.ts).
      E2E_EMULATOR_URL: `http://127.0.0.1:${emulatorPort}`,
      E2E_EMULATOR_OPENAI_KEY: emulatorOpenAIKey,
      // The single sign-on server, its admin key, and the provider the spec starts (e2e/sso.spec.ts).
      E2E_OIDC_BASE_URL: oidcServer.baseUrl,
      E2E_OIDC_API_KEY: oidcServer.apiKey,
      E2E_OIDC_ISSUER_PORT: String(oidcIssuerPort),
      E2E_OIDC_CLIENT_ID: oidcClient.id,
      E2E_OIDC_CLIENT_SECRET: oidcClient.secret,
    });
    if (code !== 0 && !verbose) {
      log("Playwright failed; server output:");
      process.stdout.write(server.output());
    }
    return code;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
