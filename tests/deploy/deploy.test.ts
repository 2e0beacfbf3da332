// The deployment files, checked without Docker or helm: docker-compose.yml parsed as YAML, the Helm
// chart in k8s/ rendered with tests/deploy/go-template.ts, the Dockerfile and .dockerignore read as
// text. Every environment variable they set must be one that server/env.ts knows, and the settings
// they put together must pass its schema. (That the standalone build starts with `node server.js`
// and answers /health is checked by scripts/e2e.mjs, after the build it already does.)
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { envSchema, parseEnv, SECRET_VARIABLES } from "../../server/env.ts";
import { commands } from "../../server/cli/commands.ts";
import { renderChart, TemplateError } from "./go-template.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const read = (file: string) => readFileSync(path.join(root, file), "utf8");
const ENV_NAMES = new Set(Object.keys(envSchema.shape));

type Doc = Record<string, any>;

function expectKnownEnvNames(names: Iterable<string>, where: string) {
  const unknown = [...names].filter((n) => !ENV_NAMES.has(n));
  expect(unknown, `${where} sets variables that server/env.ts does not define`).toEqual([]);
}

describe("docker-compose.yml", () => {
  const compose = YAML.parse(read("docker-compose.yml")) as Doc;
  const services = compose.services as Record<string, Doc>;
  const app = services["model-service"]!;

  it("runs the service with PostgreSQL (pgvector), Qdrant and Redis, each with a healthcheck", () => {
    expect(Object.keys(services).sort()).toEqual(["model-service", "postgres", "qdrant", "redis"]);
    expect(services.postgres!.image).toMatch(/^pgvector\/pgvector:pg\d+$/);
    expect(services.qdrant!.image).toMatch(/^qdrant\/qdrant:v\d+\.\d+\.\d+$/);
    expect(services.redis!.image).toMatch(/^redis:/);
    for (const [name, service] of Object.entries(services)) {
      expect(Array.isArray(service.healthcheck?.test) && service.healthcheck.test.length > 1, `${name} healthcheck`).toBe(true);
    }
    expect(app.healthcheck.test.join(" ")).toContain("/health");
    expect(services.qdrant!.healthcheck.test.join(" ")).toContain("/readyz");
  });

  it("builds the image from the Dockerfile, publishes 8003 and starts after its dependencies are healthy", () => {
    expect(app.build).toBe(".");
    expect(app.ports).toEqual(["8003:8003"]);
    expect(app.depends_on).toEqual({
      postgres: { condition: "service_healthy" },
      qdrant: { condition: "service_healthy" },
      redis: { condition: "service_healthy" },
    });
    // Docker must wait out the server's 25 s drain before it kills the process.
    expect(parseInt(app.stop_grace_period, 10)).toBeGreaterThan(25);
  });

  it("sets only variables that server/env.ts defines, and they pass its schema", () => {
    const environment = app.environment as Record<string, string>;
    expectKnownEnvNames(Object.keys(environment), "docker-compose.yml");
    // Compose's ${VAR:-default} with nothing set: the default.
    const interpolated = Object.fromEntries(
      Object.entries(environment).map(([k, v]) => [k, String(v).replace(/\$\{[A-Z_]+:-([^}]*)\}/g, "$1")]),
    );
    const env = parseEnv(interpolated);
    expect(env.DATABASE_URL).toBe("postgresql://model_service:model_service@postgres:5432/model_service");
    expect(env.qdrantUrl).toBe("http://qdrant:6333");
    expect(env.REDIS_URL).toBe("redis://redis:6379");
    expect(env.PORT).toBe(8003);
    // The database in the URL is the one PostgreSQL creates.
    expect(services.postgres!.environment.POSTGRES_DB).toBe("model_service");
    expect(services.postgres!.environment.POSTGRES_USER).toBe("model_service");
  });

  it("declares every named volume it mounts", () => {
    const declared = new Set(Object.keys(compose.volumes ?? {}));
    for (const [name, service] of Object.entries(services)) {
      for (const v of (service.volumes ?? []) as string[]) expect(declared.has(v.split(":")[0]!), `${name}: ${v}`).toBe(true);
    }
  });
});

describe("Dockerfile and .dockerignore", () => {
  const dockerfile = read("Dockerfile");
  const stages = [...dockerfile.matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gim)].map((m) => m[1]);
  const runtime = dockerfile.slice(dockerfile.search(/^FROM\s+\S+\s+AS\s+runtime/im));

  it("builds in stages deps → build → runtime from Next's standalone output", async () => {
    expect(stages).toEqual(["deps", "build", "runtime"]);
    expect(runtime).toMatch(/^COPY --from=build \/app\/\.next\/standalone \.\/$/m);
    expect(runtime).toMatch(/^COPY --from=build \/app\/\.next\/static \.\/\.next\/static$/m);
    const { default: nextConfig } = (await import(pathToFileURL(path.join(root, "next.config.mjs")).href)) as { default: (phase: string) => { output?: string } };
    const { PHASE_PRODUCTION_BUILD, PHASE_PRODUCTION_SERVER } = await import("next/constants");
    expect(nextConfig(PHASE_PRODUCTION_BUILD).output).toBe("standalone");
    // Not at run time: server/main.ts serves .next itself.
    expect(nextConfig(PHASE_PRODUCTION_SERVER).output).toBeUndefined();
  });

  it("runs as a non-root user, exposes 8003, checks /health and starts the server entry", () => {
    const user = /^USER\s+([^\s:]+)/m.exec(runtime)?.[1];
    expect(user).toBeDefined();
    expect(["root", "0"]).not.toContain(user);
    // The Dockerfile's last USER wins: no switch back to root after it.
    expect(runtime.match(/^USER /gm)).toHaveLength(1);
    expect(runtime).toMatch(/^EXPOSE 8003$/m);
    expect(runtime).toMatch(/^HEALTHCHECK [^\n]*\\\n\s+CMD [^\n]*\/health/m);
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(runtime)![1]!) as string[];
    expect(cmd).toEqual(["node", "server/main.mjs"]);
  });

  it("runs the entry `npm start` runs, compiled by `npm run build` into the standalone output", async () => {
    const { ENTRIES } = (await import(pathToFileURL(path.join(root, "scripts/bundle-server.mjs")).href)) as { ENTRIES: Record<string, string> };
    // server/main.mjs is server/main.ts behind the standalone wrapper; server/cli.mjs the CLI.
    expect(ENTRIES["server/main"]).toBe("scripts/standalone-server.ts");
    expect(read(ENTRIES["server/main"]!)).toMatch(/^await import\("\.\.\/server\/main\.ts"\);$/m);
    expect(ENTRIES["server/cli"]).toBe("server/cli/main.ts");
    const scripts = JSON.parse(read("package.json")).scripts as Record<string, string>;
    expect(scripts.start).toContain("server/main.ts");
    expect(scripts.cli).toContain("server/cli/main.ts");
    expect(scripts.build).toBe("next build && node scripts/bundle-server.mjs");
    // The runtime stage carries no npm, TypeScript sources or tsx: only the node binary and the build.
    expect(runtime).not.toMatch(/\bnpm\b|tsx|\.ts\b/m);
    expect(runtime).toMatch(/^COPY --from=build \/usr\/local\/bin\/node \/usr\/local\/bin\/node$/m);
  });

  it("copies files that exist and that .dockerignore lets through; sets only known variables", () => {
    const ignored = read(".dockerignore")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#") && !l.startsWith("!"));
    for (const must of [".env", "node_modules", ".next", ".data", ".git"]) expect(ignored).toContain(must);
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    const fromBuild = [...runtime.matchAll(/^COPY --from=build (.+) \S+$/gm)]
      .flatMap((m) => m[1]!.split(/\s+/))
      .filter((p) => p.startsWith("/app/"))
      .map((p) => p.replace(/^\/app\//, ""))
      .filter((p) => !p.startsWith(".next/") && p !== "node_modules");
    for (const file of [...sources.filter((s) => s !== "."), ...fromBuild]) {
      expect(existsSync(path.join(root, file)), `${file} exists`).toBe(true);
      expect(ignored.some((pattern) => file === pattern || file.startsWith(`${pattern}/`)), `${file} is not in .dockerignore`).toBe(false);
    }
    const envNames = [...runtime.matchAll(/^ENV ((?:.|\\\n)+?)$(?<!\\)/gm)].flatMap((m) =>
      [...m[1]!.matchAll(/([A-Z_][A-Z0-9_]*)=/g)].map((x) => x[1]!),
    );
    expect(envNames).toContain("DATA_DIR");
    // Next's own: telemetry off, and the address server.js listens on (Docker sets HOSTNAME to the
    // container's name, which would bind server.js to one interface only).
    expect(envNames).toContain("HOSTNAME");
    expectKnownEnvNames(envNames.filter((n) => n !== "NEXT_TELEMETRY_DISABLED" && n !== "HOSTNAME"), "the Dockerfile");
  });
});

describe("Helm chart (k8s/)", () => {
  const chartDir = path.join(root, "k8s");
  const secrets = {
    DATABASE_URL: "postgresql://ms:pw@postgres:5432/model_service",
    AUTH_SECRET: "a".repeat(64),
    OPENAI_API_KEY: "sk-test",
    REDIS_URL: "redis://redis:6379",
  };
  const render = (values: Record<string, unknown> = {}) =>
    renderChart(chartDir, { releaseName: "model-service", namespace: "optimus-dev", values: { secrets, ...values } });
  const docs = (values?: Record<string, unknown>) => render(values).flatMap((f) => f.documents) as Doc[];
  const one = (all: Doc[], kind: string, predicate: (d: Doc) => boolean = () => true) => {
    const found = all.filter((d) => d.kind === kind && predicate(d));
    expect(found, kind).toHaveLength(1);
    return found[0]!;
  };
  const isHook = (d: Doc) => Boolean(d.metadata?.annotations?.["helm.sh/hook"]);

  it("renders every template to valid YAML with the expected kinds", () => {
    const all = docs();
    expect(all.map((d) => d.kind).sort()).toEqual(["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Job", "Secret", "Secret", "Service"]);
    for (const d of all) {
      expect(d.apiVersion).toBeTruthy();
      expect(d.metadata.name).toMatch(/^model-service(-migrate)?$/);
      expect(d.metadata.labels["app.kubernetes.io/instance"]).toBe("model-service");
    }
  });

  it("probes /ping for liveness and /health for readiness on the http port, as a non-root user", () => {
    const deployment = one(docs(), "Deployment");
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    expect(container.image).toBe("model-service:0.1.0");
    expect(container.ports).toEqual([{ name: "http", containerPort: 8003, protocol: "TCP" }]);
    expect(container.livenessProbe.httpGet).toEqual({ path: "/ping", port: "http" });
    expect(container.readinessProbe.httpGet).toEqual({ path: "/health", port: "http" });
    expect(container.startupProbe.httpGet.path).toBe("/ping");
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).not.toBe(0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(25 + 5);
    // The selector picks the pod template's labels; the Service selects the same pods.
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    const service = one(docs(), "Service");
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(service.spec.ports[0]).toMatchObject({ port: 8003, targetPort: "http" });
  });

  it("puts non-secret settings in the ConfigMap and keys in the Secret, all known to server/env.ts and valid", () => {
    const values = YAML.parse(readFileSync(path.join(chartDir, "values.yaml"), "utf8")) as Doc;
    expectKnownEnvNames(Object.keys(values.config), "values.yaml config");
    expectKnownEnvNames(Object.keys(values.secrets), "values.yaml secrets");
    const all = docs();
    const configMap = one(all, "ConfigMap");
    const secret = one(all, "Secret", (d) => !isHook(d));
    const container = one(all, "Deployment").spec.template.spec.containers[0];
    expect(container.envFrom).toEqual([{ configMapRef: { name: configMap.metadata.name } }, { secretRef: { name: secret.metadata.name } }]);
    const decoded = Object.fromEntries(Object.entries(secret.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
    // Empty values are left out, so the service's defaults apply.
    expect(decoded).toEqual(secrets);
    expect(Object.values(configMap.data).every((v) => typeof v === "string" && v !== "")).toBe(true);
    const inline = Object.fromEntries((container.env as { name: string; value: string }[]).map((e) => [e.name, e.value]));
    const env = { ...configMap.data, ...decoded, ...inline };
    expectKnownEnvNames(Object.keys(env), "the Deployment");
    const parsed = parseEnv(env);
    expect(parsed.PORT).toBe(8003);
    expect(parsed.DATABASE_URL).toBe(secrets.DATABASE_URL);
    expect(parsed.dataDir).toBe("/app/.data");
    // No secret in the ConfigMap (server/env.ts's list of variables whose values are secrets).
    expect(Object.keys(values.config).filter((name) => SECRET_VARIABLES.has(name))).toEqual([]);
  });

  it("migrates with `db migrate` through the CLI in a pre-install/pre-upgrade hook Job", () => {
    const all = docs();
    const job = one(all, "Job");
    expect(job.metadata.annotations["helm.sh/hook"]).toBe("pre-install,pre-upgrade");
    const [container] = job.spec.template.spec.containers;
    const command = container.command as string[];
    expect(command.slice(0, 6)).toEqual(["node", "--import", "tsx", "--import", "./scripts/server-only-hook.mjs", "server/cli/main.ts"]);
    expect(existsSync(path.join(root, command[5]!))).toBe(true);
    const cliArgs = command.slice(6);
    expect(cliArgs).toEqual(["db", "migrate"]);
    expect(commands.map((c) => c.name)).toContain(cliArgs.join(" "));
    expect(job.spec.template.spec.restartPolicy).toBe("Never");
    expectKnownEnvNames((container.env as { name: string }[]).map((e) => e.name), "the migration Job");
    // Hooks run before the release's own Secret exists: the Job's Secret is a hook that comes first.
    const ref = container.env.find((e: Doc) => e.name === "DATABASE_URL").valueFrom.secretKeyRef;
    const hookSecret = one(all, "Secret", isHook);
    expect(ref).toEqual({ name: hookSecret.metadata.name, key: "DATABASE_URL" });
    expect(Number(hookSecret.metadata.annotations["helm.sh/hook-weight"])).toBeLessThan(Number(job.metadata.annotations["helm.sh/hook-weight"]));
    expect(hookSecret.metadata.annotations["helm.sh/hook"]).toBe(job.metadata.annotations["helm.sh/hook"]);
    expect(Buffer.from(hookSecret.data.DATABASE_URL, "base64").toString()).toBe(secrets.DATABASE_URL);
  });

  it("scales the Deployment with an HPA, or sets replicas when autoscaling is off", () => {
    const all = docs();
    const hpa = one(all, "HorizontalPodAutoscaler");
    const deployment = one(all, "Deployment");
    expect(hpa.apiVersion).toBe("autoscaling/v2");
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
    expect(hpa.spec.metrics[0].resource).toEqual({ name: "cpu", target: { type: "Utilization", averageUtilization: 70 } });
    expect(deployment.spec.replicas).toBeUndefined();

    const fixed = docs({ autoscaling: { enabled: false }, replicaCount: 3 });
    expect(fixed.some((d) => d.kind === "HorizontalPodAutoscaler")).toBe(false);
    expect(one(fixed, "Deployment").spec.replicas).toBe(3);
  });

  it("refuses to render without DATABASE_URL or AUTH_SECRET, and uses existingSecret instead of its own", () => {
    const noDb = { secrets: { ...secrets, DATABASE_URL: "" } };
    expect(() => render(noDb)).toThrow(TemplateError);
    expect(() => render(noDb)).toThrow(/secrets\.DATABASE_URL is required/);
    expect(() => render({ secrets: { ...secrets, AUTH_SECRET: "" } })).toThrow(/secrets\.AUTH_SECRET is required/);

    const all = docs({ existingSecret: "model-service-keys", secrets: {} });
    expect(all.some((d) => d.kind === "Secret")).toBe(false);
    const deployment = one(all, "Deployment");
    expect(deployment.spec.template.spec.containers[0].envFrom[1]).toEqual({ secretRef: { name: "model-service-keys" } });
    const job = one(all, "Job");
    expect(job.spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef).toEqual({ name: "model-service-keys", key: "DATABASE_URL" });
  });

  it("rolls the pods when a setting changes, and names resources after the release", () => {
    const annotations = (values?: Record<string, unknown>) => one(docs(values), "Deployment").spec.template.metadata.annotations;
    const before = annotations();
    expect(before["checksum/config"]).toMatch(/^[0-9a-f]{64}$/);
    expect(annotations({ config: { LOG_LEVEL: "debug" } })["checksum/config"]).not.toBe(before["checksum/config"]);
    expect(annotations({ secrets: { ...secrets, OPENAI_API_KEY: "sk-other" } })["checksum/secret"]).not.toBe(before["checksum/secret"]);
    const other = renderChart(chartDir, { releaseName: "gateway", values: { secrets } }).flatMap((f) => f.documents) as Doc[];
    expect(one(other, "Deployment").metadata.name).toBe("gateway-model-service");
    expect(one(other, "Deployment", () => true).spec.template.spec.containers[0].image).toBe("model-service:0.1.0");
    const tagged = docs({ image: { repository: "registry.example.com/model-service", tag: "1.2.3" } });
    expect(one(tagged, "Deployment").spec.template.spec.containers[0].image).toBe("registry.example.com/model-service:1.2.3");
    expect(one(tagged, "Job").spec.template.spec.containers[0].image).toBe("registry.example.com/model-service:1.2.3");
  });
});
