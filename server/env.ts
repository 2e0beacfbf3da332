// One zod schema for all configuration. `loadEnv` is the only reader of process.env for settings;
// a bad value stops start-up with one line naming the variable and what it expects.
import path from "node:path";
import { z } from "zod";

const emptyAsUndefined = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);
const optionalString = z.preprocess(emptyAsUndefined, z.string().optional());
const optionalUrl = (what: string) =>
  z.preprocess(emptyAsUndefined, z.url({ error: `a URL such as ${what}` }).optional());
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
  z.preprocess(
    emptyAsUndefined,
    z.coerce.number({ error: what }).int({ error: what }).positive({ error: what }).default(fallback),
  );

export const envSchema = z.object({
  NODE_ENV: z.preprocess(emptyAsUndefined, z.enum(["development", "production", "test"]).default("development")),
  PORT: port(8003),
  HOST: z.preprocess(emptyAsUndefined, z.string().default("0.0.0.0")),
  DATABASE_URL: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, { error: "a PostgreSQL URL (postgresql://user:password@host:5432/db), or unset for the embedded database" })
      .optional(),
  ),
  DATA_DIR: z.preprocess(emptyAsUndefined, z.string().default("./.data")),
  QDRANT_URL: optionalUrl("http://localhost:6333"),
  QDRANT_API_KEY: optionalString,
  QDRANT_HOST: optionalString,
  QDRANT_PORT: z.preprocess(emptyAsUndefined, port(6333).optional()),
  REDIS_URL: z.preprocess(
    emptyAsUndefined,
    z.string().regex(/^rediss?:\/\//, { error: "a Redis URL such as redis://127.0.0.1:6379" }).optional(),
  ),
  OPENAI_API_KEY: optionalString,
  OPENAI_ORGANIZATION: optionalString,
  OPENAI_BASE_URL: optionalUrl("https://api.openai.com/v1"),
  ANTHROPIC_API_KEY: optionalString,
  ANTHROPIC_BASE_URL: optionalUrl("https://api.anthropic.com"),
  JWT_SECRET: optionalString,
  JWT_ALGORITHM: z.preprocess(
    emptyAsUndefined,
    z.enum(["HS256", "HS384", "HS512"], { error: "one of HS256, HS384, HS512" }).default("HS256"),
  ),
  AUTH_SECRET: optionalString,
  RATE_LIMIT_REQUESTS: positiveInt(100, "a whole number of requests above 0"),
  RATE_LIMIT_WINDOW: positiveInt(60, "a whole number of seconds above 0"),
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
  /// Largest request body the REST endpoints accept, in bytes.
  MAX_BODY_BYTES: positiveInt(10 * 1024 * 1024, "a whole number of bytes above 0"),
});

export type Env = z.infer<typeof envSchema> & { dataDir: string; qdrantUrl: string | undefined };

/** Names of variables whose values are secrets: never printed, not even in an error. */
export const SECRET_VARIABLES = new Set([
  "DATABASE_URL",
  "QDRANT_API_KEY",
  "REDIS_URL",
  "OPENAI_API_KEY",
  "ANTHROPIC_API_KEY",
  "JWT_SECRET",
  "AUTH_SECRET",
]);

export class EnvError extends Error {
  constructor(
    readonly variable: string,
    readonly expected: string,
  ) {
    super(`Invalid configuration: ${variable} must be ${expected}`);
    this.name = "EnvError";
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

