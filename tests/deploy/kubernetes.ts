// The chart, as the real Helm renders it, and the rendered objects checked against Kubernetes'
// own API schemas (v1.36, from the kubernetes-models packages):
//   - at run time, each object's model validates it (types, formats, required fields, enums);
//   - unknown fields, which those validators let through and the API server refuses (kubectl's
//     and Helm's strict field validation), by TypeScript's excess-property check of the same
//     models' types over every rendered object.
// And a stand-in for the Kubernetes API server, for Helm's `lookup` and discovery (an upgrade).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import ts from "typescript";
import YAML from "yaml";

export type Doc = Record<string, any>;

/** Where kubernetes-models keeps a kind's model: core kinds under v1/, the others under their group. */
export function modelModule(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "monitoring.coreos.com") return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  return group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
}

/** Runs a Helm binary; returns its exit code and output. */
export function runHelm(helm: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(helm, args, { encoding: "utf8", maxBuffer: 32 * 1024 * 1024, timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a Helm binary without blocking this process (for a server of this process it talks to). */
export function runHelmAsync(helm: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(helm, args, { stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

const TEMPLATE = (chartDir: string, args: string[]) => ["template", "model-service", chartDir, "-n", "optimus-dev", ...args];

function parseRendered(r: { code: number; stdout: string; stderr: string }): Doc[] {
  if (r.code !== 0) throw new Error(r.stderr.trim() || `helm template exited ${r.code}`);
  return YAML.parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
}

/** `helm template` of the chart; the rendered objects (hooks included), or the error Helm printed. */
export function helmTemplate(helm: string, chartDir: string, args: string[]): Doc[] {
  return parseRendered(runHelm(helm, TEMPLATE(chartDir, args)));
}

/** The same, without blocking (with --dry-run=server against startKubeApi's server). */
export async function helmTemplateAsync(helm: string, chartDir: string, args: string[]): Promise<Doc[]> {
  return parseRendered(await runHelmAsync(helm, TEMPLATE(chartDir, args)));
}

/** Each object against its model's validator; returns the problems found, as "Kind/name: message". */
export async function validateAgainstModels(docs: Doc[]): Promise<string[]> {
  const problems: string[] = [];
  for (const doc of docs) {
    const where = `${doc.kind}/${doc.metadata?.name}`;
    let Model: new (data: Doc) => { validate(): void };
    try {
      const mod = (await import(modelModule(doc.apiVersion, doc.kind))) as Record<string, new (data: Doc) => { validate(): void }>;
      Model = mod[doc.kind]!;
      if (!Model) throw new Error(`no model ${doc.kind}`);
    } catch (err) {
      problems.push(`${where}: no Kubernetes model for ${doc.apiVersion} ${doc.kind} (${(err as Error).message})`);
      continue;
    }
    try {
      new Model(doc).validate();
    } catch (err) {
      problems.push(`${where}: ${(err as Error).message}`);
    }
  }
  return problems;
}

/**
 * TypeScript's check of the objects as literals of their kinds' types: an unknown field (or a
 * field of the wrong type) anywhere in an object is an error. One program for all objects.
 */
export function typeCheckAgainstModels(root: string, docs: Doc[]): string[] {
  const file = path.join(root, "tests", "deploy", "__rendered_objects__.ts");
  const imports = new Map<string, string>();
  const lines: string[] = [];
  docs.forEach((doc, i) => {
    const mod = modelModule(doc.apiVersion, doc.kind);
    const alias = `T${imports.size}`;
    if (!imports.has(mod)) imports.set(mod, alias);
    lines.push(`// ${doc.kind}/${doc.metadata?.name}\nexport const o${i}: ${imports.get(mod)} = ${JSON.stringify(doc, null, 1)};`);
  });
  const source =
    [...imports].map(([mod, alias]) => `import type { I${mod.split("/").at(-1)} as ${alias} } from "${mod}";`).join("\n") +
    "\n" +
    lines.join("\n");
  const host = ts.createCompilerHost({});
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.readFile = (f) => (f === file ? source : readFile(f));
  host.fileExists = (f) => f === file || fileExists(f);
  const program = ts.createProgram(
    [file],
    {
      strict: true,
      noEmit: true,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      target: ts.ScriptTarget.ES2022,
      skipLibCheck: true,
      types: [],
    },
    host,
  );
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const object =
      line >= 0
        ? source
            .split("\n")
            .slice(0, line + 1)
            .reverse()
            .find((l) => l.startsWith("// "))
        : undefined;
    return `${object?.slice(3) ?? "?"}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`;
  });
}

/** What the stand-in API server knows: the kinds the chart renders, by group/version. */
const RESOURCES: Record<string, { name: string; kind: string; namespaced: boolean }[]> = {
  v1: [
    { name: "configmaps", kind: "ConfigMap", namespaced: true },
    { name: "secrets", kind: "Secret", namespaced: true },
    { name: "services", kind: "Service", namespaced: true },
    { name: "persistentvolumeclaims", kind: "PersistentVolumeClaim", namespaced: true },
    { name: "namespaces", kind: "Namespace", namespaced: false },
  ],
  "apps/v1": [
    { name: "deployments", kind: "Deployment", namespaced: true },
    { name: "statefulsets", kind: "StatefulSet", namespaced: true },
  ],
  "batch/v1": [{ name: "jobs", kind: "Job", namespaced: true }],
  "policy/v1": [{ name: "poddisruptionbudgets", kind: "PodDisruptionBudget", namespaced: true }],
  "autoscaling/v2": [{ name: "horizontalpodautoscalers", kind: "HorizontalPodAutoscaler", namespaced: true }],
  "networking.k8s.io/v1": [{ name: "ingresses", kind: "Ingress", namespaced: true }],
  "monitoring.coreos.com/v1": [{ name: "servicemonitors", kind: "ServiceMonitor", namespaced: true }],
};

/**
 * A Kubernetes API server that holds `secrets` (namespace/name -> Secret) and answers discovery
 * and GET of a Secret the way the real one does (JSON, a Status body for 404): enough for
 * `helm template --dry-run=server`, whose `lookup` reads the cluster. `groups` chooses which
 * API groups it serves (without monitoring.coreos.com, the cluster has no ServiceMonitor CRD).
 */
export async function startKubeApi(secrets: Record<string, Doc>, groups = Object.keys(RESOURCES)) {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    requests.push(`${req.method} ${url.pathname}`);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const notFound = () =>
      send(404, {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: `${url.pathname} not found`,
        reason: "NotFound",
        code: 404,
      });
    const served = groups.filter((g) => RESOURCES[g]);
    const resources = (gv: string) => ({
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion: gv,
      resources: RESOURCES[gv]!.map((r) => ({
        ...r,
        singularName: r.kind.toLowerCase(),
        verbs: ["get", "list", "create", "update", "patch", "delete"],
      })),
    });
    const p = url.pathname;
    if (p === "/version") return send(200, { major: "1", minor: "34", gitVersion: "v1.34.0", platform: "linux/amd64" });
    if (p === "/api") return send(200, { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [] });
    if (p === "/api/v1") return send(200, resources("v1"));
    if (p === "/apis") {
      const byGroup = new Map<string, string[]>();
      for (const gv of served.filter((g) => g.includes("/"))) {
        const [group, version] = gv.split("/") as [string, string];
        byGroup.set(group, [...(byGroup.get(group) ?? []), version]);
      }
      return send(200, {
        kind: "APIGroupList",
        apiVersion: "v1",
        groups: [...byGroup].map(([name, versions]) => ({
          name,
          versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
          preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
        })),
      });
    }
    const groupVersion = /^\/apis\/([^/]+\/[^/]+)$/.exec(p)?.[1];
    if (groupVersion && served.includes(groupVersion)) return send(200, resources(groupVersion));
    const secret = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(p);
    if (secret && req.method === "GET") {
      const found = secrets[`${secret[1]}/${secret[2]}`];
      return found ? send(200, found) : notFound();
    }
    return notFound();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const dir = mkdtempSync(path.join(tmpdir(), "model-service-kubeconfig-"));
  const kubeconfig = path.join(dir, "config");
  writeFileSync(
    kubeconfig,
    YAML.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "stand-in", cluster: { server: `http://127.0.0.1:${port}` } }],
      users: [{ name: "stand-in", user: { token: "stand-in" } }],
      contexts: [{ name: "stand-in", context: { cluster: "stand-in", user: "stand-in", namespace: "optimus-dev" } }],
      "current-context": "stand-in",
    }),
  );
  return { kubeconfig, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
