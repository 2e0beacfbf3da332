// JSON logging with pino. Secrets are redacted by path, and every message passes through
// `redactSecrets` so that a key that slipped into a string is masked too.
import pino, { type Logger } from "pino";
import { loadEnv, SECRET_VARIABLES } from "./env.ts";

const REDACT_PATHS = [
  "password",
  "*.password",
  "apiKey",
  "*.apiKey",
  "api_key",
  "*.api_key",
  "authorization",
  "*.authorization",
  "headers.authorization",
  'headers["x-api-key"]',
  "*.headers.authorization",
  '*.headers["x-api-key"]',
  "token",
  "*.token",
  "secret",
  "*.secret",
];

/**
 * Masks things that look like provider keys, our API keys, bearer tokens, URL passwords and
 * `password=…` pairs, and the configured values of the secret variables (JWT_SECRET, …).
 */
export function redactSecrets(text: string): string {
  let out = text
    .replace(/\b(sk|ms|sk-ant|sk-proj)[-_][A-Za-z0-9_-]{8,}/g, "$1-[redacted]")
    .replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, "$1[redacted]")
    .replace(/(\w+:\/\/[^:/@\s]*:)[^@\s]+@/g, "$1[redacted]@")
    .replace(/\b(password|passwd|pwd|secret|token)(\s*[=:]\s*)[^\s,;&"']+/gi, "$1$2[redacted]");
  for (const secret of configuredSecrets()) if (out.includes(secret)) out = out.split(secret).join("[redacted]");
  return out;
}

/** The values of SECRET_VARIABLES in this process's configuration (none while it is invalid). */
function configuredSecrets(): string[] {
  try {
    const env = loadEnv() as unknown as Record<string, unknown>;
    return [...SECRET_VARIABLES].map((name) => env[name]).filter((v): v is string => typeof v === "string" && v.length >= 8);
  } catch {
    return [];
  }
}

/**
 * Where the process-wide logger writes: stdout (the server), or stderr (the CLI, whose stdout
 * carries only what it prints, so that `--json` output is one JSON document).
 */
let logFd: 1 | 2 = 1;
export function sendLogsToStderr(): void {
  logFd = 2;
  g.__modelServiceLogger = undefined;
}

/** A logger with the service's options; `destination` (tests) replaces stdout in JSON format. */
export function createLogger(destination?: pino.DestinationStream): Logger {
  const env = loadEnv();
  const options: pino.LoggerOptions = {
    level: env.LOG_LEVEL,
    base: { service: "model-service" },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    hooks: {
      logMethod(args, method) {
        const masked = args.map((a) => (typeof a === "string" ? redactSecrets(a) : a)) as typeof args;
        method.apply(this, masked);
      },
    },
    serializers: {
      err: (e: unknown) => {
        const s = pino.stdSerializers.err(e as Error);
        if (s?.message) s.message = redactSecrets(s.message);
        if (s?.stack) s.stack = redactSecrets(s.stack);
        return s;
      },
    },
  };
  if (env.LOG_FORMAT === "pretty") {
    // A readable single line per record without the pino-pretty dependency.
    return pino(options, {
      write(line: string) {
        const r = JSON.parse(line) as Record<string, unknown>;
        const { time, level, msg, service: _s, ...rest } = r;
        const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : "";
        (logFd === 2 ? process.stderr : process.stdout).write(
          `${String(time)} ${String(level).toUpperCase()} ${String(msg ?? "")}${extra}\n`,
        );
      },
    });
  }
  if (destination) return pino(options, destination);
  return logFd === 2 ? pino(options, pino.destination({ dest: 2, sync: true })) : pino(options);
}

const g = globalThis as unknown as { __modelServiceLogger?: Logger };

/** The process-wide logger (one instance across Next's route bundles). */
export function getLogger(): Logger {
  g.__modelServiceLogger ??= createLogger();
  return g.__modelServiceLogger;
}

/**
 * A child logger made on its first use: a request's logger, which most requests never write to
 * (only failures are logged), so the child's bindings (serialised by pino on `child`) are not
 * paid for on every call (bench/gateway's profile had them at about 3% of the lean path's CPU).
 */
export function lazyChild(bindings: pino.Bindings): Logger {
  let real: Logger | undefined;
  const target = () => (real ??= getLogger().child(bindings));
  return new Proxy({} as Logger, {
    get(_, property) {
      const logger = target();
      const value = Reflect.get(logger, property, logger) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(logger) : value;
    },
    set(_, property, value) {
      return Reflect.set(target(), property, value);
    },
    has(_, property) {
      return Reflect.has(target(), property);
    },
  });
}
