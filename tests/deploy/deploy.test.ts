// The deployment files, checked with the real tools: docker-compose.yml by Docker Compose v2's
// `docker compose config` (the compose specification's schema and model), the Helm chart in k8s/
// by Helm 3 and Helm 4 themselves (`helm lint`, `helm template`, with the default values and each
// example in k8s/examples), its objects validated against Kubernetes' API schemas
// (tests/deploy/kubernetes.ts), the Dockerfile and .dockerignore read as text. Every environment
// variable they set must be one that server/kernel/env.ts knows, and the settings they put together must
// pass its schema. The tools are fetched once into .tools/ (scripts/tools.mjs). The image itself is
// built and run by `npm run test:image`; that the standalone build starts with `node server.js`
// is checked by scripts/e2e.mjs.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { envSchema, parseEnv, SECRET_VARIABLES } from "../../server/kernel/env.ts";
import { commands } from "../../server/cli/commands.ts";
import {
  helmTemplate,
  helmTemplateAsync,
  runHelm,
  startKubeApi,
  typeCheckAgainstModels,
  validateAgainstModels,
  type Doc,
} from "./kubernetes.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const read = (file: string) => readFileSync(path.join(root, file), "utf8");
const ENV_NAMES = new Set(Object.keys(envSchema.shape));
// scripts/tools.mjs is plain JavaScript: its functions return paths (compose: the command).
const tools = (await import(pathToFileURL(path.join(root, "scripts/tools.mjs")).href)) as {
  helm(): string;
  helm4(): string;
  compose(): string[];
};

function expectKnownEnvNames(names: Iterable<string>, where: string) {
  const unknown = [...names].filter((n) => !ENV_NAMES.has(n));
  expect(unknown, `${where} sets variables that server/kernel/env.ts does not define`).toEqual([]);
}

describe("docker-compose.yml (docker compose config)", () => {
  let compose: string[];
  const config = (file: string) => {
    const env = { ...process.env };
    delete env.POSTGRES_PASSWORD;
    return spawnSync(compose[0]!, [...compose.slice(1), "-f", file, "config", "--format", "json"], {
      cwd: root,
      env,
      encoding: "utf8",
      timeout: 60_000,
    });
  };
  let normalized: Doc;
  beforeAll(() => {
    compose = tools.compose();
    const r = config(path.join(root, "docker-compose.yml"));
    expect(r.status, r.stderr).toBe(0);
    normalized = JSON.parse(r.stdout) as Doc;
  }, 180_000);

  it("is a valid compose file, and an invalid one is refused", () => {
    expect(normalized.name).toBe("model-service");
    const broken = path.join(mkdtempSync(path.join(tmpdir(), "compose-")), "docker-compose.yml");
    writeFileSync(broken, read("docker-compose.yml").replace("condition: service_healthy", "condition: service_ready"));
    const r = config(broken);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/depends_on\.postgres\.condition/);
  });

  it("runs the service with PostgreSQL (pgvector), Qdrant and Redis, each with a healthcheck", () => {
    const services = normalized.services as Record<string, Doc>;
    expect(Object.keys(services).sort()).toEqual(["model-service", "postgres", "qdrant", "redis"]);
    expect(services.postgres!.image).toMatch(/^pgvector\/pgvector:pg\d+$/);
    expect(services.qdrant!.image).toMatch(/^qdrant\/qdrant:v\d+\.\d+\.\d+$/);
    expect(services.redis!.image).toMatch(/^redis:/);
    for (const [name, service] of Object.entries(services)) {
      expect(Array.isArray(service.healthcheck?.test) && service.healthcheck.test.length > 1, `${name} healthcheck`).toBe(true);
    }
    const app = services["model-service"]!;
    expect(app.healthcheck.test.join(" ")).toContain("/health");
    expect(services.qdrant!.healthcheck.test.join(" ")).toContain("/readyz");
    expect(app.build.context).toBe(root);
    expect(app.ports).toEqual([expect.objectContaining({ target: 8003, published: "8003" })]);
    expect(app.depends_on).toEqual({
      postgres: expect.objectContaining({ condition: "service_healthy" }),
      qdrant: expect.objectContaining({ condition: "service_healthy" }),
      redis: expect.objectContaining({ condition: "service_healthy" }),
    });
    // Docker must wait out the server's 25 s drain before it kills the process.
    expect(app.stop_grace_period).toMatch(/^\d+s$/);
    expect(parseInt(app.stop_grace_period, 10)).toBeGreaterThan(25);
  });

  it("sets only variables that server/kernel/env.ts defines, and they pass its schema", () => {
    const services = normalized.services as Record<string, Doc>;
    // As compose interpolated it (${POSTGRES_PASSWORD:-model_service} with nothing set: the default).
    const environment = services["model-service"]!.environment as Record<string, string>;
    expectKnownEnvNames(Object.keys(environment), "docker-compose.yml");
    const env = parseEnv(environment);
    expect(env.DATABASE_URL).toBe("postgresql://model_service:model_service@postgres:5432/model_service");
    expect(env.qdrantUrl).toBe("http://qdrant:6333");
    expect(env.REDIS_URL).toBe("redis://redis:6379");
    expect(env.PORT).toBe(8003);
    expect(env.dataDir).toBe("/app/.data");
    // The database in the URL is the one PostgreSQL creates.
    expect(services.postgres!.environment).toMatchObject({
      POSTGRES_DB: "model_service",
      POSTGRES_USER: "model_service",
      POSTGRES_PASSWORD: "model_service",
    });
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
    const { default: nextConfig } = (await import(pathToFileURL(path.join(root, "next.config.mjs")).href)) as {
      default: (phase: string) => { output?: string };
    };
    const { PHASE_PRODUCTION_BUILD, PHASE_PRODUCTION_SERVER } = await import("next/constants");
    expect(nextConfig(PHASE_PRODUCTION_BUILD).output).toBe("standalone");
    // Not at run time: server/host/main.ts serves .next itself.
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
    const { ENTRIES } = (await import(pathToFileURL(path.join(root, "scripts/bundle-server.mjs")).href)) as {
      ENTRIES: Record<string, string>;
    };
    // server/main.mjs is server/host/main.ts behind the standalone wrapper; server/cli.mjs the CLI.
    expect(ENTRIES["server/main"]).toBe("scripts/standalone-server.ts");
    expect(read(ENTRIES["server/main"]!)).toMatch(/^await import\("\.\.\/server\/host\/main\.ts"\);$/m);
    expect(ENTRIES["server/cli"]).toBe("server/cli/main.ts");
    const scripts = JSON.parse(read("package.json")).scripts as Record<string, string>;
    expect(scripts.start).toContain("server/host/main.ts");
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
      expect(
        ignored.some((pattern) => file === pattern || file.startsWith(`${pattern}/`)),
        `${file} is not in .dockerignore`,
      ).toBe(false);
    }
    const envNames = [...runtime.matchAll(/^ENV ((?:.|\\\n)+?)$(?<!\\)/gm)].flatMap((m) =>
      [...m[1]!.matchAll(/([A-Z_][A-Z0-9_]*)=/g)].map((x) => x[1]!),
    );
    expect(envNames).toContain("DATA_DIR");
    // Next's own: telemetry off, and the address server.js listens on (Docker sets HOSTNAME to the
    // container's name, which would bind server.js to one interface only).
    expect(envNames).toContain("HOSTNAME");
    expectKnownEnvNames(
      envNames.filter((n) => n !== "NEXT_TELEMETRY_DISABLED" && n !== "HOSTNAME"),
      "the Dockerfile",
    );
  });
});

describe("Helm chart (k8s/), rendered by Helm", () => {
  const chartDir = path.join(root, "k8s");
  const examples = readdirSync(path.join(chartDir, "examples"))
    .filter((f) => f.endsWith(".yaml"))
    .sort();
  let helm3: string;
  let helm4: string;
  beforeAll(() => {
    helm3 = tools.helm();
    helm4 = tools.helm4();
  }, 180_000);
  const render = (...args: string[]) => helmTemplate(helm3, chartDir, args);
  const example = (name: string) => ["-f", path.join(chartDir, "examples", name)];
  const one = (all: Doc[], kind: string, name?: string) => {
    const found = all.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
    expect(found, `${kind} ${name ?? ""}`).toHaveLength(1);
    return found[0]!;
  };
  const decode = (secret: Doc) =>
    Object.fromEntries(
      Object.entries((secret.data ?? {}) as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]),
    );
  const isHook = (d: Doc) => Boolean(d.metadata?.annotations?.["helm.sh/hook"]);
  /**
   * Render against a cluster (startKubeApi), as `helm install`/`upgrade` sees it: `lookup` reads it
   * and the capabilities come from its discovery. (Helm 3 does so with --validate, Helm 4 with
   * --dry-run=server; the stand-in serves no OpenAPI document to validate against.)
   */
  const againstCluster = (helm: string, kubeconfig: string) =>
    helmTemplateAsync(helm, chartDir, [
      ...(helm === helm4 ? ["--dry-run=server"] : ["--dry-run=server", "--validate"]),
      "--disable-openapi-validation",
      "--kubeconfig",
      kubeconfig,
    ]);
  /** The app pods' environment as Kubernetes builds it: envFrom in order (a later source wins), then env. */
  const podEnv = (all: Doc[], extraSecrets: Record<string, Record<string, string>> = {}) => {
    const container = one(all, "Deployment").spec.template.spec.containers[0];
    const env: Record<string, string> = {};
    for (const source of container.envFrom as Doc[]) {
      const name = source.configMapRef?.name ?? source.secretRef?.name;
      const from = source.configMapRef
        ? one(all, "ConfigMap", name).data
        : (extraSecrets[name] ?? decode(all.find((d) => d.kind === "Secret" && d.metadata.name === name && !isHook(d)) ?? {}));
      Object.assign(env, from);
    }
    for (const e of container.env as { name: string; value: string }[]) env[e.name] = e.value;
    return env;
  };

  it("passes helm lint with the default values and with each example, on Helm 3 and Helm 4", () => {
    expect(runHelm(helm3, ["version", "--short"]).stdout).toMatch(/^v3\./);
    expect(runHelm(helm4, ["version", "--short"]).stdout).toMatch(/^v4\./);
    for (const helm of [helm3, helm4]) {
      for (const args of [[], ...examples.map(example)]) {
        const r = runHelm(helm, ["lint", chartDir, "--strict", ...args]);
        expect(r.code, `${helm} lint ${args.join(" ")}\n${r.stdout}${r.stderr}`).toBe(0);
      }
    }
  });

  it("renders every variant into objects that Kubernetes 1.36's API schemas accept, with Helm 3 and Helm 4", async () => {
    const variants: [string, string[]][] = [
      ["default", []],
      ...examples.map((e): [string, string[]] => [e, example(e)]),
      ["ServiceMonitor", ["--api-versions", "monitoring.coreos.com/v1/ServiceMonitor"]],
    ];
    const all: Doc[] = [];
    for (const [name, args] of variants) {
      const three = render(...args);
      const four = helmTemplate(helm4, chartDir, args);
      // The same objects from both (generated values aside, which differ on every render).
      const shape = (docs: Doc[]) => docs.map((d) => `${d.kind}/${d.metadata.name}`).sort();
      expect(shape(four), name).toEqual(shape(three));
      all.push(...three, ...four);
    }
    expect(await validateAgainstModels(all)).toEqual([]);
    expect(typeCheckAgainstModels(root, all)).toEqual([]);
    // The checks catch what the API server refuses: an unknown field, a wrong type, a missing name.
    const deployment = structuredClone(one(render(), "Deployment"));
    deployment.spec.template.spec.containers[0].imagePullPolicy = "Sometimes";
    expect((await validateAgainstModels([deployment]))[0]).toMatch(/imagePullPolicy|must be equal to one of/);
    const unknown = structuredClone(one(render(), "Deployment"));
    unknown.spec.template.spec.containers[0].livenessProbe.httpGett = {};
    expect(typeCheckAgainstModels(root, [unknown]).join("\n")).toMatch(/httpGett/);
  }, 120_000);

  it("installs with no values: the service and a PostgreSQL with pgvector of its own, on a volume, with generated secrets", () => {
    const all = render();
    expect(
      all
        .filter((d) => !isHook(d))
        .map((d) => `${d.kind}/${d.metadata.name}`)
        .sort(),
    ).toEqual([
      "ConfigMap/model-service",
      "Deployment/model-service",
      "PodDisruptionBudget/model-service",
      "Secret/model-service-generated",
      "Secret/model-service-postgresql",
      "Service/model-service",
      "Service/model-service-postgresql",
      "Service/model-service-postgresql-hl",
      "StatefulSet/model-service-postgresql",
    ]);
    const statefulSet = one(all, "StatefulSet");
    const pg = statefulSet.spec.template.spec.containers[0];
    expect(pg.image).toMatch(/^pgvector\/pgvector:pg\d+$/);
    expect(statefulSet.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe("8Gi");
    expect(pg.volumeMounts).toEqual([{ name: "data", mountPath: "/var/lib/postgresql/data" }]);
    const generated = one(all, "Secret", "model-service-generated");
    const password = one(all, "Secret", "model-service-postgresql");
    // Kept after `helm uninstall`, like the volume, so that a new install finds the same password.
    for (const secret of [generated, password]) expect(secret.metadata.annotations["helm.sh/resource-policy"]).toBe("keep");
    const values = { ...decode(generated), ...decode(password) };
    expect(Object.keys(decode(generated)).sort()).toEqual(["AUTH_SECRET", "DATABASE_URL", "SECRETS_KEY"]);
    expect(Object.keys(decode(password))).toEqual(["POSTGRES_PASSWORD"]);
    for (const name of ["AUTH_SECRET", "SECRETS_KEY", "POSTGRES_PASSWORD"]) expect(values[name]).toMatch(/^[A-Za-z0-9]{48}$/);
    // The database the pods are given is the StatefulSet's: its Service, user, database and password.
    const env = podEnv(all);
    const url = new URL(env.DATABASE_URL!);
    const pgEnv = Object.fromEntries((pg.env as Doc[]).map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(url.hostname).toBe(one(all, "Service", "model-service-postgresql").metadata.name);
    expect(url.port).toBe(String(one(all, "Service", "model-service-postgresql").spec.ports[0].port));
    expect(decodeURIComponent(url.username)).toBe(pgEnv.POSTGRES_USER);
    expect(url.pathname).toBe(`/${pgEnv.POSTGRES_DB}`);
    expect(pgEnv.POSTGRES_PASSWORD).toEqual({ secretKeyRef: { name: "model-service-postgresql", key: "POSTGRES_PASSWORD" } });
    expect(decodeURIComponent(url.password)).toBe(values.POSTGRES_PASSWORD);
    // The PostgreSQL Service selects the database pod, not the service's, and the other way round.
    const dbSelector = one(all, "Service", "model-service-postgresql").spec.selector;
    const appSelector = one(all, "Service", "model-service").spec.selector;
    expect(statefulSet.spec.template.metadata.labels).toMatchObject(dbSelector);
    expect(Object.entries(appSelector).every(([k, v]) => statefulSet.spec.template.metadata.labels[k] === v)).toBe(false);
    // The pods wait for the database before the server starts (it stops when the database does not answer).
    const init = one(all, "Deployment").spec.template.spec.initContainers[0];
    expect(init.command.join(" ")).toContain("pg_isready -q -h model-service-postgresql -p 5432");
  });

  it("gives the pods an environment of names server/kernel/env.ts defines, which passes its schema", () => {
    for (const args of [[], ...examples.map(example)]) {
      const all = render(...args);
      const env = podEnv(all, {
        "model-service-keys": { DATABASE_URL: "postgresql://ms:pw@db:5432/model_service", OPENAI_API_KEY: "sk-x" },
      });
      expectKnownEnvNames(Object.keys(env), `the Deployment (${args.join(" ") || "default values"})`);
      const parsed = parseEnv(env);
      expect(parsed.PORT).toBe(8003);
      expect(parsed.dataDir).toBe("/app/.data");
      expect(parsed.DATABASE_URL).toMatch(/^postgresql:\/\//);
      expect(parsed.AUTH_SECRET).toBeTruthy();
      // No secret in the ConfigMap (server/kernel/env.ts's list of variables whose values are secrets).
      expect(Object.keys(one(all, "ConfigMap").data ?? {}).filter((n) => SECRET_VARIABLES.has(n))).toEqual([]);
      expect(Object.values(one(all, "ConfigMap").data ?? {}).every((v) => typeof v === "string" && v !== "")).toBe(true);
    }
  });

  it("keeps generated values across upgrades: an upgrade reads them back from the cluster, a first install makes new ones", async () => {
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    const secret = (name: string, data: Record<string, string>) => ({
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      // As Helm left them: a kept Secret still says which release it belongs to, so installing that
      // release again after an uninstall adopts it (Helm refuses to take over a Secret that does not).
      metadata: {
        name,
        namespace: "optimus-dev",
        labels: { "app.kubernetes.io/managed-by": "Helm" },
        annotations: {
          "meta.helm.sh/release-name": "model-service",
          "meta.helm.sh/release-namespace": "optimus-dev",
          "helm.sh/resource-policy": "keep",
        },
      },
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
    });
    const cluster = await startKubeApi({
      "optimus-dev/model-service-generated": secret("model-service-generated", {
        AUTH_SECRET: "kept-auth-secret",
        SECRETS_KEY: "kept-secrets-key",
      }),
      "optimus-dev/model-service-postgresql": secret("model-service-postgresql", { POSTGRES_PASSWORD: "keptPassword" }),
    });
    try {
      for (const helm of [helm3, helm4]) {
        const upgraded = await againstCluster(helm, cluster.kubeconfig);
        const values = decode(one(upgraded, "Secret", "model-service-generated"));
        expect(values).toMatchObject({ AUTH_SECRET: "kept-auth-secret", SECRETS_KEY: "kept-secrets-key" });
        expect(decode(one(upgraded, "Secret", "model-service-postgresql"))).toEqual({ POSTGRES_PASSWORD: "keptPassword" });
        expect(values.DATABASE_URL).toBe("postgresql://model_service:keptPassword@model-service-postgresql:5432/model_service");
        // The migration hook reaches the same database.
        expect(decode(one(upgraded, "Secret", "model-service-migrate")).DATABASE_URL).toBe(values.DATABASE_URL);
      }
      expect(cluster.requests).toContain("GET /api/v1/namespaces/optimus-dev/secrets/model-service-generated");
    } finally {
      await cluster.close();
    }
    const first = decode(one(render(), "Secret", "model-service-generated"));
    const second = decode(one(render(), "Secret", "model-service-generated"));
    expect(first.AUTH_SECRET).not.toBe(second.AUTH_SECRET);
    // Given values are used as they are, and not generated.
    const given = render("--set", "secrets.AUTH_SECRET=given-auth", "--set", "postgresql.auth.password=givenPassword");
    expect(decode(one(given, "Secret", "model-service")).AUTH_SECRET).toBe("given-auth");
    const generated = decode(one(given, "Secret", "model-service-generated"));
    expect(Object.keys(generated).sort()).toEqual(["DATABASE_URL", "SECRETS_KEY"]);
    expect(generated.DATABASE_URL).toContain(":givenPassword@");
  });

  it("uses an external database from secrets.DATABASE_URL or existingSecret, which win over generated values", () => {
    const external = render(...example("external-database.yaml"));
    expect(external.some((d) => d.kind === "StatefulSet")).toBe(false);
    expect(one(external, "Deployment").spec.template.spec.initContainers).toBeUndefined();
    expect(Object.keys(decode(one(external, "Secret", "model-service-generated"))).sort()).toEqual(["AUTH_SECRET", "SECRETS_KEY"]);
    expect(podEnv(external).DATABASE_URL).toBe("postgresql://model_service:change-me@postgres.example.internal:5432/model_service");
    expect(decode(one(external, "Secret", "model-service-migrate")).DATABASE_URL).toBe(podEnv(external).DATABASE_URL);

    const own = render(...example("existing-secret.yaml"));
    const container = one(own, "Deployment").spec.template.spec.containers[0];
    // Kubernetes: for a name several envFrom sources hold, the last one wins.
    expect(container.envFrom).toEqual([
      { configMapRef: { name: "model-service" } },
      { secretRef: { name: "model-service-generated" } },
      { secretRef: { name: "model-service-keys" } },
    ]);
    expect(podEnv(own, { "model-service-keys": { AUTH_SECRET: "from-my-secret", DATABASE_URL: "postgresql://x@db/ms" } })).toMatchObject({
      AUTH_SECRET: "from-my-secret",
      DATABASE_URL: "postgresql://x@db/ms",
    });
    const job = one(own, "Job").spec.template.spec.containers[0];
    expect(job.envFrom).toEqual([{ secretRef: { name: "model-service-migrate" } }, { secretRef: { name: "model-service-keys" } }]);
  });

  it("refuses a wrong value with a message that names it (values.schema.json), and database settings that do not fit together", () => {
    const refused = (...args: string[]) => {
      const r = runHelm(helm3, ["template", "model-service", chartDir, ...args]);
      expect(r.code, args.join(" ")).not.toBe(0);
      return r.stderr;
    };
    expect(refused("--set", "secrets.DATABASE_URl=postgresql://x")).toMatch(/secrets: Additional property DATABASE_URl is not allowed/);
    expect(refused("--set", "postgresql.enabled=maybe")).toMatch(/postgresql\.enabled: Invalid type\. Expected: boolean/);
    expect(refused("--set", "secrets.REDIS_URL=http://redis:6379")).toMatch(/secrets\.REDIS_URL: Does not match pattern/);
    expect(refused("--set", "config.LOG_LEVEL=loud")).toMatch(/config\.LOG_LEVEL/);
    expect(refused("--set", "image.pullPolicy=Sometimes")).toMatch(/image\.pullPolicy/);
    expect(refused("--set", "terminationGracePeriodSeconds=10")).toMatch(/terminationGracePeriodSeconds/);
    expect(refused("--set", "postgresql.enabled=false")).toMatch(
      /postgresql\.enabled=false needs an external database: set secrets\.DATABASE_URL .* or existingSecret/,
    );
    expect(refused("--set", "secrets.DATABASE_URL=postgresql://x@db/ms")).toMatch(
      /set postgresql\.enabled=false to use the database in DATABASE_URL/,
    );
    // Helm 4 refuses the same.
    expect(runHelm(helm4, ["template", "model-service", chartDir, "--set", "secrets.DATABASE_URl=x"]).stderr).toMatch(/DATABASE_URl/);
  });

  it("puts Redis and Qdrant where the service reads them", () => {
    expect(parseEnv(podEnv(render(...example("redis.yaml")))).REDIS_URL).toBe("redis://redis-master.redis.svc.cluster.local:6379");
    const qdrant = parseEnv(podEnv(render(...example("qdrant.yaml"))));
    expect(qdrant.qdrantUrl).toBe("http://qdrant.qdrant.svc.cluster.local:6333");
    expect(qdrant.QDRANT_API_KEY).toBe("change-me");
  });

  it("scales with an HPA when asked (replicas fixed otherwise), and keeps one pod through disruptions", () => {
    const fixed = render();
    expect(fixed.some((d) => d.kind === "HorizontalPodAutoscaler")).toBe(false);
    expect(one(fixed, "Deployment").spec.replicas).toBe(2);
    const scaled = render(...example("hpa.yaml"));
    const hpa = one(scaled, "HorizontalPodAutoscaler");
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: "model-service" });
    expect(hpa.spec).toMatchObject({ minReplicas: 2, maxReplicas: 10 });
    expect(hpa.spec.metrics[0].resource).toEqual({ name: "cpu", target: { type: "Utilization", averageUtilization: 70 } });
    expect(one(scaled, "Deployment").spec.replicas).toBeUndefined();
    const pdb = one(fixed, "PodDisruptionBudget");
    expect(pdb.spec).toEqual({ minAvailable: 1, selector: { matchLabels: one(fixed, "Deployment").spec.selector.matchLabels } });
    // One pod: a budget would block every node drain.
    expect(render("--set", "replicaCount=1").some((d) => d.kind === "PodDisruptionBudget")).toBe(false);
  });

  it("routes an Ingress to the Service when enabled, with TLS", () => {
    expect(render().some((d) => d.kind === "Ingress")).toBe(false);
    const ingress = one(render(...example("ingress.yaml")), "Ingress");
    expect(ingress.spec.ingressClassName).toBe("nginx");
    expect(ingress.spec.tls).toEqual([{ hosts: ["models.example.com"], secretName: "model-service-tls" }]);
    expect(ingress.spec.rules[0]).toEqual({
      host: "models.example.com",
      http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "model-service", port: { name: "http" } } } }] },
    });
  });

  it("adds a ServiceMonitor only when the cluster has its CRD, with a generated METRICS_TOKEN the pods share", async () => {
    expect(render().some((d) => d.kind === "ServiceMonitor")).toBe(false);
    const all = render("--api-versions", "monitoring.coreos.com/v1/ServiceMonitor");
    const monitor = one(all, "ServiceMonitor");
    // It selects the service's Service by its labels, and not the database's.
    const selects = (service: Doc) => Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => service.metadata.labels[k] === v);
    expect(selects(one(all, "Service", "model-service"))).toBe(true);
    expect(selects(one(all, "Service", "model-service-postgresql"))).toBe(false);
    expect(monitor.spec.endpoints[0]).toMatchObject({
      port: "http",
      path: "/metrics",
      authorization: { type: "Bearer", credentials: { name: "model-service-generated", key: "METRICS_TOKEN" } },
    });
    expect(podEnv(all).METRICS_TOKEN).toMatch(/^[A-Za-z0-9]{48}$/);
    // Off when asked, and the CRD found through the cluster's discovery, as a real install sees it.
    expect(
      render("--api-versions", "monitoring.coreos.com/v1/ServiceMonitor", "--set", "metrics.serviceMonitor.enabled=false").some(
        (d) => d.kind === "ServiceMonitor",
      ),
    ).toBe(false);
    for (const [groups, expected] of [
      [undefined, 1],
      [["v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1"], 0],
    ] as const) {
      const cluster = await startKubeApi({}, groups as string[] | undefined);
      try {
        for (const helm of [helm3, helm4]) {
          const docs = await againstCluster(helm, cluster.kubeconfig);
          expect(
            docs.filter((d) => d.kind === "ServiceMonitor"),
            `${helm}, groups ${groups ?? "all"}`,
          ).toHaveLength(expected);
        }
      } finally {
        await cluster.close();
      }
    }
  });

  it("probes /ping and /health, runs as a non-root user with a read-only root, and spreads the pods", () => {
    const all = render();
    const deployment = one(all, "Deployment");
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    expect(container.image).toBe("model-service:0.1.0");
    expect(container.ports).toEqual([{ name: "http", containerPort: 8003, protocol: "TCP" }]);
    expect(container.livenessProbe.httpGet).toEqual({ path: "/ping", port: "http" });
    expect(container.readinessProbe.httpGet).toEqual({ path: "/health", port: "http" });
    expect(container.startupProbe.httpGet.path).toBe("/ping");
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    // The only places the process writes (the image test runs the image with a read-only root too).
    expect(container.volumeMounts.map((m: Doc) => m.mountPath).sort()).toEqual(["/app/.data", "/app/.next/cache", "/tmp"]);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(25 + 5);
    expect(container.resources).toEqual({ requests: { cpu: "250m", memory: "384Mi" }, limits: { memory: "1Gi" } });
    expect(pod.topologySpreadConstraints.map((c: Doc) => c.topologyKey)).toEqual(["kubernetes.io/hostname", "topology.kubernetes.io/zone"]);
    for (const c of pod.topologySpreadConstraints) expect(c.labelSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    const service = one(all, "Service", "model-service");
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(service.spec.ports[0]).toMatchObject({ port: 8003, targetPort: "http" });
  });

  it("migrates with `db migrate` through the image's CLI in a pre-upgrade hook Job (pods migrate on install)", async () => {
    const all = render();
    const job = one(all, "Job");
    expect(job.metadata.annotations["helm.sh/hook"]).toBe("pre-upgrade");
    const hookSecret = one(all, "Secret", "model-service-migrate");
    expect(hookSecret.metadata.annotations["helm.sh/hook"]).toBe("pre-upgrade");
    expect(Number(hookSecret.metadata.annotations["helm.sh/hook-weight"])).toBeLessThan(
      Number(job.metadata.annotations["helm.sh/hook-weight"]),
    );
    const [container] = job.spec.template.spec.containers;
    expect(container.command).toEqual(["node", "server/cli.mjs", "db", "migrate"]);
    // server/cli.mjs is the CLI compiled into the image (scripts/bundle-server.mjs).
    const { ENTRIES } = (await import(pathToFileURL(path.join(root, "scripts/bundle-server.mjs")).href)) as {
      ENTRIES: Record<string, string>;
    };
    expect(ENTRIES["server/cli"]).toBe("server/cli/main.ts");
    expect(commands.map((c) => c.name)).toContain("db migrate");
    expect(job.spec.template.spec.restartPolicy).toBe("Never");
    expectKnownEnvNames(
      (container.env as { name: string }[]).map((e) => e.name),
      "the migration Job",
    );
    // The Job's pod is not one the Service routes to.
    expect(
      Object.entries(one(all, "Service", "model-service").spec.selector).every(([k, v]) => job.spec.template.metadata.labels[k] === v),
    ).toBe(false);
    expect(render("--set", "migrations.enabled=false").some((d) => d.kind === "Job")).toBe(false);
  });

  it("rolls the pods when a setting changes, and names resources after the release", () => {
    const annotations = (...args: string[]) => one(render(...args), "Deployment").spec.template.metadata.annotations;
    const fixed = ["--set", "secrets.AUTH_SECRET=a", "--set", "secrets.SECRETS_KEY=k", "--set", "postgresql.auth.password=p"];
    const before = annotations(...fixed);
    expect(before["checksum/config"]).toMatch(/^[0-9a-f]{64}$/);
    expect(annotations(...fixed)["checksum/secret"]).toBe(before["checksum/secret"]);
    expect(annotations(...fixed, "--set", "config.LOG_LEVEL=debug")["checksum/config"]).not.toBe(before["checksum/config"]);
    expect(annotations(...fixed, "--set", "secrets.OPENAI_API_KEY=sk-other")["checksum/secret"]).not.toBe(before["checksum/secret"]);
    const other = runHelm(helm3, ["template", "gateway", chartDir]);
    expect(other.code, other.stderr).toBe(0);
    const gateway = YAML.parseAllDocuments(other.stdout)
      .map((d) => d.toJS() as Doc)
      .filter(Boolean);
    expect(one(gateway, "Deployment").metadata.name).toBe("gateway-model-service");
    expect(one(gateway, "StatefulSet").metadata.name).toBe("gateway-model-service-postgresql");
    const tagged = render(...example("production.yaml"));
    expect(one(tagged, "Deployment").spec.template.spec.containers[0].image).toBe("registry.example.com/model-service:0.1.0");
    expect(one(tagged, "Job").spec.template.spec.containers[0].image).toBe("registry.example.com/model-service:0.1.0");
  });

  it("describes every value in values.schema.json and k8s/README.md; config and secrets are server/kernel/env.ts's variables", () => {
    const values = YAML.parse(read("k8s/values.yaml")) as Doc;
    const schema = JSON.parse(read("k8s/values.schema.json")) as Doc;
    const readme = read("k8s/README.md");
    const walk = (value: Doc, node: Doc, at: string[]) => {
      for (const [key, child] of Object.entries(value)) {
        const where = [...at, key].join(".");
        expect(node.properties?.[key], `values.schema.json describes ${where}`).toBeDefined();
        // Two levels deep (config's and secrets' names are the project README's Configuration).
        if (at.length < 2 && !["config", "secrets", "resources"].includes(at[0]!))
          expect(readme, `k8s/README.md documents ${where}`).toContain(`\`${where}\``);
        if (child && typeof child === "object" && !Array.isArray(child) && node.properties[key].properties)
          walk(child as Doc, node.properties[key], [...at, key]);
      }
    };
    walk(values, schema, []);
    const configNames = Object.keys(schema.properties.config.properties);
    const secretNames = Object.keys(schema.properties.secrets.properties);
    expectKnownEnvNames([...configNames, ...secretNames], "values.schema.json");
    expect(configNames.filter((n) => SECRET_VARIABLES.has(n))).toEqual([]);
    expect(secretNames.filter((n) => !SECRET_VARIABLES.has(n))).toEqual([]);
    // The chart sets these itself.
    const owned = ["PORT", "HOST", "DATA_DIR", "NODE_ENV"];
    for (const name of owned) expect(configNames).not.toContain(name);
    // Every other setting can be given (a new variable in server/kernel/env.ts needs its line here), but
    // the test suite's own PGlite template.
    const settable = new Set([...configNames, ...secretNames, ...owned, "PGLITE_TEMPLATE"]);
    expect(
      [...ENV_NAMES].filter((n) => !settable.has(n)),
      "server/kernel/env.ts variables that values.schema.json does not accept",
    ).toEqual([]);
  });
});
