// Request and response bodies of a call, stored only when asked for (#21 item 2), apart from the
// usage events: one row of request_bodies per event, written by the usage writer in the batch of
// its event (usage-writer.ts; a request never waits), the JSON {request, response} redacted and
// then gzip-compressed, and deleted after REQUEST_LOG_RETENTION_DAYS by a background job.
//
// Whether a call's bodies are stored (`bodyLogging`):
//   REQUEST_LOG_BODIES=off      never;
//   REQUEST_LOG_BODIES=opt-in   (the default) when the key's setting is on (keys create/update
//                               --log-bodies on) or the request sends x-model-service-log-body: true;
//   REQUEST_LOG_BODIES=on       unless the key's setting is off or the request sends false.
// A key whose setting is off forbids it: no request header turns it on. A request's `false` always
// turns it off.
//
// Redaction, before anything is stored: the service's own secrets (the values of SECRET_VARIABLES),
// bearer tokens, API-key shapes (OpenAI, Anthropic, ours, AWS access keys, Google API keys) and
// key=value secrets always (kernel/logger.ts redactSecrets plus the shapes here); e-mail addresses
// and card numbers when REQUEST_LOG_REDACT names them; each of REQUEST_LOG_REDACT_REGEX's patterns.
// A streamed answer is stored as its assembled text and tool calls.
import { gunzipSync, gzipSync } from "node:zlib";
import type { Identity } from "../../access/auth.ts";
import { getApiKeyById } from "../../access/key-lookup.ts";
import { loadEnv } from "../../kernel/env.ts";
import { redactSecrets } from "../../kernel/logger.ts";
import type { Attribution } from "./attribution.ts";

/** What is stored of a call: the request as the service read it, and the answer (or the error). */
export type LoggedBody = { request: unknown; response: unknown };

/** The call's bodies are logged: the service's mode, the key's setting and the request's header. */
export async function bodyLogging(identity: Identity, attribution: Pick<Attribution, "logBody"> | undefined): Promise<boolean> {
  const mode = loadEnv().REQUEST_LOG_BODIES;
  if (mode === "off") return false;
  const asked = attribution?.logBody;
  if (asked === false) return false;
  const key = identity.kind === "apiKey" && identity.apiKeyId ? await getApiKeyById(identity.apiKeyId) : null;
  const setting = key?.logBodies ?? null;
  if (setting === false) return false;
  if (setting === true || asked === true) return true;
  return mode === "on";
}

const ALWAYS: [RegExp, string][] = [
  [/\bAKIA[0-9A-Z]{16}\b/g, "[redacted]"],
  [/\bAIza[0-9A-Za-z_-]{30,}/g, "[redacted]"],
  [/\b(sk|ms|sk-ant|sk-proj)[-_][A-Za-z0-9_-]{8,}/g, "$1-[redacted]"],
];
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
/** 13 to 19 digits, optionally grouped by spaces or dashes, that pass the Luhn check. */
const CARD = /\b\d(?:[ -]?\d){12,18}\b/g;

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** `text` with everything the configuration says to redact replaced. */
export function redactBody(text: string): string {
  const env = loadEnv();
  let out = redactSecrets(text);
  for (const [pattern, replacement] of ALWAYS) out = out.replace(pattern, replacement);
  if (env.REQUEST_LOG_REDACT.includes("email")) out = out.replace(EMAIL, "[email]");
  if (env.REQUEST_LOG_REDACT.includes("card")) out = out.replace(CARD, (m) => (luhn(m.replace(/\D/g, "")) ? "[card]" : m));
  for (const pattern of env.REQUEST_LOG_REDACT_REGEX) out = out.replace(new RegExp(pattern, "g"), "[redacted]");
  return out;
}

/** The stored form of a body: the redacted JSON, gzip-compressed, and its size before compression. */
export function packBody(body: LoggedBody): { data: Buffer; size: number } {
  const json = Buffer.from(redactBody(JSON.stringify(body)), "utf8");
  return { data: gzipSync(json), size: json.length };
}

export function unpackBody(data: Uint8Array): LoggedBody {
  return JSON.parse(gunzipSync(data).toString("utf8")) as LoggedBody;
}

/** Deletes the bodies older than REQUEST_LOG_RETENTION_DAYS; returns how many went. */
export async function deleteExpiredBodies(
  rawQuery: (sql: string, params?: unknown[]) => Promise<unknown[]>,
  now = new Date(),
): Promise<number> {
  const cutoff = new Date(now.getTime() - loadEnv().REQUEST_LOG_RETENTION_DAYS * 86_400_000);
  const rows = (await rawQuery(
    "WITH gone AS (DELETE FROM request_bodies WHERE created_at < $1::timestamptz RETURNING 1) SELECT count(*)::int AS n FROM gone",
    [cutoff.toISOString()],
  )) as { n: number }[];
  return rows[0]?.n ?? 0;
}
