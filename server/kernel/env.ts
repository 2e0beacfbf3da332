// One zod schema for all configuration. `loadEnv` is the only reader of process.env for settings;
// a bad value stops start-up with one line naming the variable and what it expects.
import { isIP } from "node:net";
import path from "node:path";
import { z } from "zod";

const emptyAsUndefined = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);
const optionalString = z.preprocess(emptyAsUndefined, z.string().optional());
const commaList = (v: string) =>
  v
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
const optionalUrl = (what: string) => z.preprocess(emptyAsUndefined, z.url({ error: `a URL such as ${what}` }).optional());
const PORT_EXPECTED = "a port number from 0 to 65535 (0: any free port)";
const port = (fallback: number) =>
  z.preprocess(
    emptyAsUndefined,
    z.coerce
      .number({ error: PORT_EXPECTED })
      .int({ error: PORT_EXPECTED })
      .min(0, { error: PORT_EXPECTED })
      .max(65535, { error: PORT_EXPECTED })
      .default(fallback),
  );
const positiveInt = (fallback: number, what: string) =>
  z.preprocess(emptyAsUndefined, z.coerce.number({ error: what }).int({ error: what }).positive({ error: what }).default(fallback));

/** One limit: `requests` per `windowSeconds`; null turns the limit off. */
export type RateLimitSpec = { requests: number; windowSeconds: number } | null;
const RATE_LIMITS_EXPECTED =
  'a JSON object of limits such as {"generate":"10/minute","tier:premium":"1000/hour"} (each "<requests>/<second|minute|hour|day|N s>" or "off")';
const WINDOW_SECONDS: Record<string, number> = { second: 1, minute: 60, hour: 3600, day: 86400 };

/** "10/minute", "100/60s", "5/30", "off" → a RateLimitSpec; undefined when the text is not one. */
export function parseRateLimit(text: string): RateLimitSpec | undefined {
  const t = text.trim().toLowerCase();
  if (t === "off" || t === "none" || t === "unlimited") return null;
  const m = /^(\d+)\s*\/\s*(?:(second|minute|hour|day)|(\d+)\s*s?)$/.exec(t);
  if (!m) return undefined;
  const requests = Number(m[1]);
  const windowSeconds = m[2] ? WINDOW_SECONDS[m[2]]! : Number(m[3]);
  return requests > 0 && windowSeconds > 0 && Number.isSafeInteger(requests) ? { requests, windowSeconds } : undefined;
}

/** RATE_LIMITS: per-endpoint (`generate`) and per-tier (`tier:basic`) overrides of the built-in limits. */
const rateLimits = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .optional()
    .transform((text, ctx): Record<string, RateLimitSpec> => {
      if (text === undefined) return {};
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        ctx.addIssue({ code: "custom", message: `${RATE_LIMITS_EXPECTED}; it is not valid JSON` });
        return z.NEVER;
      }
      if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
        ctx.addIssue({ code: "custom", message: RATE_LIMITS_EXPECTED });
        return z.NEVER;
      }
      const out: Record<string, RateLimitSpec> = {};
      for (const [name, value] of Object.entries(raw)) {
        if (name === "default") {
          ctx.addIssue({
            code: "custom",
            message: `${RATE_LIMITS_EXPECTED}; set the default with RATE_LIMIT_REQUESTS and RATE_LIMIT_WINDOW, not "default"`,
          });
          return z.NEVER;
        }
        const spec = /^[a-z0-9][a-z0-9:_-]*$/.test(name) && typeof value === "string" ? parseRateLimit(value) : undefined;
        if (spec === undefined) {
          ctx.addIssue({ code: "custom", message: `${RATE_LIMITS_EXPECTED}; the entry ${JSON.stringify(name.slice(0, 40))} is not one` });
          return z.NEVER;
        }
        out[name] = spec;
      }
      return out;
    }),
);

const CIDRS_EXPECTED = "CIDR ranges separated by commas, such as 10.0.0.0/8,fd00::/8 (a bare address means just that one)";
/** A list of CIDR ranges (WEBHOOK_ALLOW_PRIVATE), each normalised to `address/prefix`. */
const cidrList = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .optional()
    .transform((text, ctx): string[] => {
      if (text === undefined) return [];
      const out: string[] = [];
      for (const item of text.split(/[\s,]+/).filter(Boolean)) {
        const [address, prefix, extra] = item.split("/");
        const family = isIP(address ?? "");
        const max = family === 4 ? 32 : 128;
        const bits = prefix === undefined ? max : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
        if (family === 0 || extra !== undefined || !(bits >= 0 && bits <= max)) {
          ctx.addIssue({ code: "custom", message: `${CIDRS_EXPECTED}; ${JSON.stringify(item.slice(0, 60))} is not one` });
          return z.NEVER;
        }
        out.push(`${address}/${bits}`);
      }
      return out;
    }),
);

/** One OpenAI-compatible server (Ollama, vLLM, LM Studio, Groq, ...) in OPENAI_COMPATIBLE_PROVIDERS. */
const compatibleProviderSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, { error: "a lowercase id such as ollama" }),
  name: z.string().min(1).optional(),
  baseUrl: z.url({ protocol: /^https?$/, error: "an http(s) URL such as http://localhost:11434/v1" }),
  apiKey: z.string().min(1).optional(),
  models: z.array(z.union([z.string().min(1), z.strictObject({ id: z.string().min(1), type: z.enum(["chat", "embedding"]) })])).default([]),
});
export type CompatibleProviderConfig = z.infer<typeof compatibleProviderSchema>;
const COMPATIBLE_EXPECTED =
  'a JSON array such as [{"id":"ollama","name":"Ollama","baseUrl":"http://localhost:11434/v1","apiKey":"optional","models":["llama3.1"]}]';
const RESERVED_PROVIDER_IDS = new Set(["openai", "anthropic", "local", "azure-openai", "bedrock", "gemini", "vertex"]);

// The JSON is parsed here rather than with z.json() so that no error repeats the value (it may hold keys).
const compatibleProviders = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .optional()
    .transform((text, ctx): CompatibleProviderConfig[] => {
      if (text === undefined) return [];
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        ctx.addIssue({ code: "custom", message: `${COMPATIBLE_EXPECTED} (it is not valid JSON)` });
        return z.NEVER;
      }
      const parsed = z.array(compatibleProviderSchema).safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        const where = issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("") || "the value";
        ctx.addIssue({ code: "custom", message: `${COMPATIBLE_EXPECTED} (${where}: ${issue.message})` });
        return z.NEVER;
      }
      const seen = new Set<string>();
      for (const p of parsed.data) {
        if (RESERVED_PROVIDER_IDS.has(p.id) || seen.has(p.id)) {
          ctx.addIssue({
            code: "custom",
            message: `${COMPATIBLE_EXPECTED} (id "${p.id}" is taken; ids must be unique and not one of the built-in providers: ${[...RESERVED_PROVIDER_IDS].join(", ")})`,
          });
          return z.NEVER;
        }
        seen.add(p.id);
      }
      return parsed.data;
    }),
);

export const envSchema = z.object({
  NODE_ENV: z.preprocess(emptyAsUndefined, z.enum(["development", "production", "test"]).default("development")),
  PORT: port(8003),
  HOST: z.preprocess(emptyAsUndefined, z.string().default("0.0.0.0")),
  DATABASE_URL: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, {
        error: "a PostgreSQL URL (postgresql://user:password@host:5432/db), or unset for the embedded database",
      })
      .optional(),
  ),
  DATA_DIR: z.preprocess(emptyAsUndefined, z.string().default("./.data")),
  /// A PGlite dump (dumpDataDir) a new embedded database starts from instead of running initdb; the test suite sets it.
  PGLITE_TEMPLATE: optionalString,
  QDRANT_URL: optionalUrl("http://localhost:6333"),
  QDRANT_API_KEY: optionalString,
  QDRANT_HOST: optionalString,
  QDRANT_PORT: z.preprocess(emptyAsUndefined, port(6333).optional()),
  REDIS_URL: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^rediss?:\/\//, { error: "a Redis URL such as redis://127.0.0.1:6379" })
      .optional(),
  ),
  OPENAI_API_KEY: optionalString,
  OPENAI_ORGANIZATION: optionalString,
  OPENAI_BASE_URL: optionalUrl("https://api.openai.com/v1"),
  ANTHROPIC_API_KEY: optionalString,
  ANTHROPIC_BASE_URL: optionalUrl("https://api.anthropic.com"),
  /// OpenAI-compatible servers, each its own provider: a JSON array (see COMPATIBLE_EXPECTED).
  OPENAI_COMPATIBLE_PROVIDERS: compatibleProviders,
  /// The configuration file (model-service.yaml): providers of any type by id, and which serves each model.
  MODEL_SERVICE_CONFIG: optionalString,
  /// Azure OpenAI (provider azure-openai): the resource's endpoint and key, and the api-version (the names the openai SDK reads).
  AZURE_OPENAI_ENDPOINT: optionalUrl("https://my-resource.openai.azure.com"),
  AZURE_OPENAI_API_KEY: optionalString,
  /// Or a Microsoft Entra ID service principal instead of the key (the names @azure/identity reads): tenant, client id and secret, and the authority host.
  AZURE_TENANT_ID: optionalString,
  AZURE_CLIENT_ID: optionalString,
  AZURE_CLIENT_SECRET: optionalString,
  AZURE_AUTHORITY_HOST: optionalUrl("https://login.microsoftonline.com"),
  OPENAI_API_VERSION: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}(-preview)?$/, { error: "an Azure OpenAI api-version such as 2024-10-21 or 2025-04-01-preview" })
      .optional(),
  ),
  /// AWS Bedrock (provider bedrock): a region; static keys (else the AWS SDK's default credential chain); an endpoint of your own.
  AWS_REGION: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/, { error: "an AWS region such as us-east-1" })
      .optional(),
  ),
  AWS_ACCESS_KEY_ID: optionalString,
  AWS_SECRET_ACCESS_KEY: optionalString,
  AWS_SESSION_TOKEN: optionalString,
  AWS_ENDPOINT_URL_BEDROCK_RUNTIME: optionalUrl("https://bedrock-runtime.us-east-1.amazonaws.com"),
  /// The Gemini API (provider gemini) and its base URL (the name @google/genai reads).
  GEMINI_API_KEY: optionalString,
  GOOGLE_GEMINI_BASE_URL: optionalUrl("https://generativelanguage.googleapis.com"),
  /// Vertex AI (provider vertex): project, location (default global), a service-account key file (else Google's default credentials), base URL.
  GOOGLE_CLOUD_PROJECT: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, { error: "a Google Cloud project id such as my-project" })
      .optional(),
  ),
  GOOGLE_CLOUD_LOCATION: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^[a-z0-9-]+$/, { error: "a Google Cloud location such as europe-west4 or global" })
      .optional(),
  ),
  GOOGLE_APPLICATION_CREDENTIALS: optionalString,
  GOOGLE_VERTEX_BASE_URL: optionalUrl("https://europe-west4-aiplatform.googleapis.com"),
  JWT_SECRET: optionalString,
  JWT_ALGORITHM: z.preprocess(
    emptyAsUndefined,
    z.enum(["HS256", "HS384", "HS512"], { error: "one of HS256, HS384, HS512" }).default("HS256"),
  ),
  /// A JSON Web Key Set (an identity provider's jwks_uri): platform JWTs signed RS256 or ES256 by one of its keys are accepted beside the HS ones.
  JWT_JWKS_URL: optionalUrl("https://idp.example.com/.well-known/jwks.json"),
  /// When set, a platform JWT's `iss` must be this (recommended with JWT_JWKS_URL: an identity provider signs tokens for many clients).
  JWT_ISSUER: optionalString,
  /// When set, a platform JWT's `aud` must include this.
  JWT_AUDIENCE: optionalString,
  AUTH_SECRET: optionalString,
  /// Encrypts the provider keys an admin stores at run time (AES-256-GCM under an HKDF-derived key); unset: generated into DATA_DIR/secrets-key. The Helm chart generates and keeps it.
  SECRETS_KEY: optionalString,
  RATE_LIMIT_REQUESTS: positiveInt(100, "a whole number of requests above 0"),
  RATE_LIMIT_WINDOW: positiveInt(60, "a whole number of seconds above 0"),
  /// Overrides of the per-endpoint and per-tier limits, e.g. {"generate":"10/minute","tier:basic":"10/hour"}.
  RATE_LIMITS: rateLimits,
  /// Prefix of every Redis key and channel this service uses (several deployments or test runs on one Redis).
  REDIS_KEY_PREFIX: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^[\w:.-]{1,64}$/, { error: "letters, digits and : . _ - (at most 64)" })
      .default("ms:"),
  ),
  /// How many proxies of our own stand in front: the client address is read that many hops back along X-Forwarded-For (0: the TCP peer).
  TRUST_PROXY: z.preprocess(
    emptyAsUndefined,
    z.coerce
      .number({ error: "a whole number of proxies in front of the service (0: none, use the connection's address)" })
      .int({ error: "a whole number of proxies in front of the service (0: none, use the connection's address)" })
      .min(0, { error: "a whole number of proxies in front of the service (0: none, use the connection's address)" })
      .max(10, { error: "at most 10 proxies" })
      .default(0),
  ),
  /// Bearer token that may read /metrics (besides an admin key).
  METRICS_TOKEN: optionalString,
  /// Optional GitHub sign-in for the dashboard (only for existing users, matched by verified email).
  AUTH_GITHUB_ID: optionalString,
  AUTH_GITHUB_SECRET: optionalString,
  /// Single sign-on with any OpenID Connect provider (features/accounts/sso.ts): its issuer URL, and this service's client there.
  AUTH_OIDC_ISSUER: optionalUrl("https://idp.example.com/realms/main"),
  AUTH_OIDC_CLIENT_ID: optionalString,
  AUTH_OIDC_CLIENT_SECRET: optionalString,
  /// The sign-in button's label: "Sign in with <name>".
  AUTH_OIDC_NAME: z.preprocess(emptyAsUndefined, z.string().max(40, { error: "at most 40 characters" }).default("single sign-on")),
  /// The scopes asked for; add the one that carries the groups claim if the provider needs it (often `groups`).
  AUTH_OIDC_SCOPE: z.preprocess(emptyAsUndefined, z.string().default("openid email profile")),
  /// Create a user on their first single sign-on (else only people who already have an account here, by email, get in).
  AUTH_OIDC_ALLOW_SIGNUP: z
    .preprocess(emptyAsUndefined, z.enum(["0", "1", "true", "false"], { error: "1 or 0" }).default("0"))
    .transform((v) => v === "1" || v === "true"),
  /// Comma-separated e-mail domains allowed to sign in by single sign-on (empty: any the provider vouches for).
  AUTH_OIDC_ALLOWED_DOMAINS: z.preprocess(emptyAsUndefined, z.string().default("")).transform(commaList),
  /// The claim that lists the user's groups (a list of strings).
  AUTH_OIDC_GROUPS_CLAIM: z.preprocess(emptyAsUndefined, z.string().default("groups")),
  /// Comma-separated groups whose members are admins here.
  AUTH_OIDC_ADMIN_GROUPS: z.preprocess(emptyAsUndefined, z.string().default("")).transform(commaList),
  /// A group `<prefix><team>` or `<prefix><team>:<owner|member|viewer>` puts the user in that (existing) team.
  AUTH_OIDC_TEAM_PREFIX: z.preprocess(emptyAsUndefined, z.string().default("team:")),
  LOG_LEVEL: z.preprocess(
    (v) => (typeof v === "string" ? v.trim().toLowerCase() || undefined : v),
    z
      .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], {
        error: "one of fatal, error, warn, info, debug, trace, silent",
      })
      .default("info"),
  ),
  LOG_FORMAT: z.preprocess(
    (v) => (typeof v === "string" ? v.trim().toLowerCase() || undefined : v),
    z.enum(["json", "pretty"], { error: "json or pretty" }).default("json"),
  ),
  /// Route the API through Next's request pipeline instead of the lean node:http host (benchmarks, diagnostics).
  SERVE_API_THROUGH_NEXT: z
    .preprocess(emptyAsUndefined, z.enum(["0", "1", "true", "false"], { error: "1 or 0" }).default("0"))
    .transform((v) => v === "1" || v === "true"),
  /// OpenTelemetry: where each call's trace spans go over OTLP/HTTP (`/v1/traces` is appended); unset, no spans are made.
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl("http://localhost:4318"),
  /// OpenTelemetry: the traces URL itself, used as it is (instead of OTEL_EXPORTER_OTLP_ENDPOINT).
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalUrl("http://localhost:4318/v1/traces"),
  /// OpenTelemetry: headers sent with every export, as `name=value` pairs separated by commas (e.g. an API key of the collector).
  OTEL_EXPORTER_OTLP_HEADERS: z.preprocess(emptyAsUndefined, z.string().optional()),
  /// OpenTelemetry: the `service.name` of the spans.
  OTEL_SERVICE_NAME: z.preprocess(emptyAsUndefined, z.string().default("model-service")),
  /// OpenAI-wire passthrough: OpenAI-compatible chat requests served by an OpenAI, Azure OpenAI or OpenAI-compatible provider are sent on as they came (on), or rebuilt through the SDK (off).
  OPENAI_PASSTHROUGH: z
    .preprocess(
      (v) => (typeof v === "string" ? v.trim().toLowerCase() || undefined : v),
      z.enum(["on", "off"], { error: "on or off" }).default("on"),
    )
    .transform((v) => v === "on"),
  /// Request and response bodies (features/usage/request-bodies.ts): off (never stored), opt-in (stored for the keys and requests that ask), on (stored unless a key or request says no).
  REQUEST_LOG_BODIES: z.preprocess(
    (v) => (typeof v === "string" ? v.trim().toLowerCase() || undefined : v),
    z.enum(["off", "opt-in", "on"], { error: "off, opt-in or on" }).default("opt-in"),
  ),
  /// Days stored bodies are kept; a background job deletes older ones.
  REQUEST_LOG_RETENTION_DAYS: positiveInt(30, "a whole number of days above 0"),
  /// Extra redaction of stored bodies, comma-separated: email, card (secrets, bearer tokens and API-key shapes are always redacted).
  REQUEST_LOG_REDACT: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .default("")
      .transform((v) =>
        v
          .split(",")
          .map((x) => x.trim().toLowerCase())
          .filter(Boolean),
      )
      .pipe(z.array(z.enum(["email", "card"], { error: "a comma-separated list of email, card" }))),
  ),
  /// More redaction of stored bodies: a JSON array of regular expressions (JavaScript syntax), each match replaced.
  REQUEST_LOG_REDACT_REGEX: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .default("[]")
      .transform((v, ctx) => {
        try {
          const list = JSON.parse(v) as unknown;
          if (!Array.isArray(list) || !list.every((x) => typeof x === "string")) throw new Error("not an array of strings");
          for (const p of list) new RegExp(p as string, "g");
          return list as string[];
        } catch (err) {
          ctx.issues.push({ code: "custom", message: `a JSON array of regular expressions (${(err as Error).message})`, input: v });
          return z.NEVER;
        }
      }),
  ),
  /// Response cache: how long an answer is kept when the request names no TTL, and the longest TTL a request may ask for (seconds).
  RESPONSE_CACHE_TTL: positiveInt(3600, "a whole number of seconds above 0"),
  RESPONSE_CACHE_MAX_TTL: positiveInt(7 * 24 * 3600, "a whole number of seconds above 0"),
  /// Embedding cache: how long an embedding is kept, in seconds; 0 turns the cache off.
  EMBEDDING_CACHE_TTL: z.preprocess(
    emptyAsUndefined,
    z.coerce
      .number({ error: "a whole number of seconds (0: off)" })
      .int({ error: "a whole number of seconds (0: off)" })
      .min(0, { error: "a whole number of seconds (0: off)" })
      .default(30 * 24 * 3600),
  ),
  /// Embedding cache: whose entries a caller can hit — the owner's own (their user, or the key without a user) or everyone's.
  EMBEDDING_CACHE_SCOPE: z.preprocess(
    (v) => (typeof v === "string" ? v.trim().toLowerCase() || undefined : v),
    z.enum(["owner", "global"], { error: "owner or global" }).default("owner"),
  ),
  /// Memory for the caches' in-process copy of recent entries, in MB.
  CACHE_MEMORY_MB: positiveInt(64, "a whole number of megabytes above 0"),
  /// Deadline for one provider call, retries included, in milliseconds.
  PROVIDER_TIMEOUT_MS: positiveInt(120_000, "a whole number of milliseconds above 0"),
  /// Deadline of one Redis command on the request path, in milliseconds; past it the caller falls back (in-process limits, caches).
  REDIS_COMMAND_TIMEOUT_MS: positiveInt(50, "a whole number of milliseconds above 0"),
  /// Longest a PostgreSQL statement may run (server-side statement_timeout, and the client's read deadline a little after it), in milliseconds.
  DATABASE_STATEMENT_TIMEOUT_MS: positiveInt(2_000, "a whole number of milliseconds above 0"),
  /// Longest wait for a PostgreSQL connection (a new one, or a free one of the pool), in milliseconds.
  DATABASE_CONNECT_TIMEOUT_MS: positiveInt(2_000, "a whole number of milliseconds above 0"),
  /// Proxies in front of the service that append the client's address to X-Forwarded-For (0: the socket's peer is the client).
  /// After SIGTERM: how long in-flight requests may take to finish before streams are cut, in milliseconds.
  SHUTDOWN_GRACE_MS: positiveInt(25_000, "a whole number of milliseconds above 0"),
  /// Largest request body the REST endpoints accept, in bytes.
  MAX_BODY_BYTES: positiveInt(10 * 1024 * 1024, "a whole number of bytes above 0"),
  /// A webhook that receives every budget alert (besides each user's own), signed with BUDGET_ALERT_WEBHOOK_SECRET.
  BUDGET_ALERT_WEBHOOK_URL: z.preprocess(
    emptyAsUndefined,
    z.url({ protocol: /^https?$/, error: "an http(s) URL such as https://alerts.example.com/model-service" }).optional(),
  ),
  /// Private ranges (CIDRs) that users' webhooks may reach; by default only public addresses (cloud metadata never).
  WEBHOOK_ALLOW_PRIVATE: cidrList,
  /// The HMAC-SHA256 key of BUDGET_ALERT_WEBHOOK_URL's signature header.
  BUDGET_ALERT_WEBHOOK_SECRET: z.preprocess(
    emptyAsUndefined,
    z.string().min(16, { error: "a random string of at least 16 characters" }).optional(),
  ),
});

export type Env = z.infer<typeof envSchema> & { dataDir: string; qdrantUrl: string | undefined };

/** Names of variables whose values are secrets: never printed, not even in an error. */
export const SECRET_VARIABLES = new Set([
  "DATABASE_URL",
  "QDRANT_API_KEY",
  "OTEL_EXPORTER_OTLP_HEADERS",
  "REDIS_URL",
  "OPENAI_API_KEY",
  "ANTHROPIC_API_KEY",
  "OPENAI_COMPATIBLE_PROVIDERS",
  "AZURE_OPENAI_API_KEY",
  "AZURE_CLIENT_SECRET",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "GEMINI_API_KEY",
  "JWT_SECRET",
  "AUTH_SECRET",
  "SECRETS_KEY",
  "METRICS_TOKEN",
  "AUTH_GITHUB_SECRET",
  "AUTH_OIDC_CLIENT_SECRET",
  "BUDGET_ALERT_WEBHOOK_URL",
  "BUDGET_ALERT_WEBHOOK_SECRET",
]);

// Erasable TypeScript only (no parameter properties, enums or namespaces): next.config.mjs imports
// this file directly, and Node strips its types without a compiler.
export class EnvError extends Error {
  readonly variable: string;
  readonly expected: string;
  constructor(variable: string, expected: string) {
    super(`Invalid configuration: ${variable} must be ${expected}`);
    this.name = "EnvError";
    this.variable = variable;
    this.expected = expected;
  }
}

/** Parses configuration from `source`; throws an EnvError naming the first bad variable. */
export function parseEnv(source: Record<string, string | undefined>): Env {
  const result = envSchema.safeParse(source);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const variable = String(issue.path[0] ?? "environment");
    throw new EnvError(variable, issue.message);
  }
  const e = result.data;
  if (e.BUDGET_ALERT_WEBHOOK_URL && !e.BUDGET_ALERT_WEBHOOK_SECRET) {
    throw new EnvError(
      "BUDGET_ALERT_WEBHOOK_SECRET",
      "set when BUDGET_ALERT_WEBHOOK_URL is (a random string of at least 16 characters: the webhook's signing key)",
    );
  }
  const qdrantUrl = e.QDRANT_URL ?? (e.QDRANT_HOST ? `http://${e.QDRANT_HOST}:${e.QDRANT_PORT ?? 6333}` : undefined);
  return { ...e, dataDir: path.resolve(e.DATA_DIR), qdrantUrl };
}

let cached: Env | undefined;

/** The process's configuration, parsed once. */
export function loadEnv(): Env {
  cached ??= parseEnv(process.env);
  return cached;
}

/** For tests that change process.env between cases. */
export function resetEnvForTests(): void {
  cached = undefined;
}
