// `node scripts/smoke.mjs`: the built service on the Node that runs this script, checked from
// outside. CI runs it on the machine's own Node 20 after everything else ran on Node 24, to keep
// the service starting where Node 20.18+ is all there is. Needs a build (`npm run build`, or the
// one `npm run test:e2e` made). What it does, on a fresh embedded database in a temporary DATA_DIR
// with the provider emulator as OpenAI:
//   `npm start`'s command (node --import tsx ... server/host/main.ts): /health 200, a dashboard page and
//   its script; `npm run cli -- keys create` (the CLI, through the running server's database); a
//   generation with that key, a streamed one, embeddings; SIGTERM while a slow generation is in
//   flight: it still answers 200, the server exits 0; started again on the same DATA_DIR, usage
//   counts the three generations.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  check,
  checkDashboard,
  CheckError,
  embed,
  freePort,
  generate,
  generateStreamed,
  root,
  sleep,
  startEmulator,
  waitForHealth,
  waitForUsage,
} from "./service-checks.mjs";

const started = Date.now();
const log = (line) => process.stdout.write(`[smoke ${process.version} ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}\n`);

// The same commands package.json's start and cli scripts run, with this process's node.
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
const argsOf = (script) =>
  pkg.scripts[script]
    .replace(/^NODE_ENV=production /, "")
    .split(" ")
    .slice(1);

function startServer(env) {
  const child = spawn(process.execPath, argsOf("start"), {
    cwd: root,
    env: { ...env, NODE_ENV: "production" },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (c) => (output += c));
  child.stderr.on("data", (c) => (output += c));
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  let done;
  void exited.then((r) => (done = r));
  return {
    child,
    exited,
    gone: () => (done ? `exit ${done.code ?? done.signal}\n${output.slice(-3000)}` : undefined),
    output: () => output,
  };
}

function cli(env, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...argsOf("cli"), ...args], {
      cwd: root,
      env: { ...env, LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(out) : reject(new CheckError(`npm run cli -- ${args.join(" ")} exited ${code}`))));
  });
}

async function main() {
  check(existsSync(path.join(root, ".next", "BUILD_ID")), "no build in .next: run `npm run build` first");
  const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-smoke-"));
  const emulator = await startEmulator(`sk-smoke-${Math.random().toString(36).slice(2, 8)}`);
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    PORT: String(port),
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    // Empty rather than unset, so that a .env cannot fill them in.
    DATABASE_URL: "",
    REDIS_URL: "",
    QDRANT_URL: "",
    OPENAI_API_KEY: emulator.key,
    OPENAI_BASE_URL: emulator.baseUrl,
    ANTHROPIC_API_KEY: "",
  };
  let server;
  try {
    server = startServer(env);
    await waitForHealth(baseUrl, { gone: server.gone });
    log(`npm start: /health 200`);
    log(`GET /setup 200 and ${await checkDashboard(baseUrl)} 200`);
    const { key } = JSON.parse((await cli(env, ["keys", "create", "--name", "smoke", "--admin", "--json"])).trim().split("\n").at(-1));
    check(/^ms_/.test(key ?? ""), "keys create printed no key");
    const generated = await generate(baseUrl, key, "hello from the smoke run");
    log(`npm run cli -- keys create: a key; a generation with it: "${generated.response}"`);
    await generateStreamed(baseUrl, key, "streamed to the smoke run");
    const embedded = await embed(baseUrl, key, ["one text", "another"]);
    log(
      `a streamed generation, and ${embedded.embeddings.length} embeddings of ${embedded.embeddings[0].length} dimensions (OpenAI's SDK, both ways)`,
    );

    const inFlight = generate(baseUrl, key, "answered while draining", { directives: "delay=3000" });
    await sleep(1_000);
    process.kill(-server.child.pid, "SIGTERM");
    const drained = await inFlight;
    const { code } = await Promise.race([server.exited, sleep(40_000).then(() => ({ code: "still running 40 s after SIGTERM" }))]);
    check(code === 0, `the server exited ${code} after SIGTERM\n${server.output().slice(-3000)}`);
    log(`SIGTERM during a generation: it answered "${drained.response}", the server exited 0`);

    server = startServer(env);
    await waitForHealth(baseUrl, { gone: server.gone });
    await waitForUsage(baseUrl, key, 3);
    log("started again on the same DATA_DIR: usage counts the three generations");
  } finally {
    if (server) {
      try {
        process.kill(-server.child.pid, "SIGTERM");
      } catch {
        // already gone
      }
      await Promise.race([server.exited, sleep(10_000)]);
      try {
        process.kill(-server.child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    emulator.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  log("passed");
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`[smoke] FAILED: ${err instanceof CheckError ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
