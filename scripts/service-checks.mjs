// Checks of a running Model Service from outside, over HTTP, shared by the container image test
// (scripts/test-image.mjs) and the smoke run on an older Node (scripts/smoke.mjs): what a user's
// first minutes with a deployment look like. Every wait has a deadline.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class CheckError extends Error {}

/**
 * fetch with a deadline that keeps the process alive while it waits (AbortSignal.timeout's timer
 * does not: a request to a server that accepted the connection and never answers would let the
 * process exit with nothing left to do).
 */
export async function timedFetch(url, init = {}, ms = 10_000) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`no answer from ${url} within ${ms / 1000}s`)), ms);
  try {
    const response = await fetch(url, { ...init, signal: controller.signal });
    return { status: response.status, headers: response.headers, text: await response.text() };
  } finally {
    clearTimeout(timer);
  }
}

/** Throws a CheckError with `message` unless `condition` holds. */
export function check(condition, message) {
  if (!condition) throw new CheckError(message);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Waits for /health to answer 200; returns its body. `gone()` says the server died meanwhile. */
export async function waitForHealth(baseUrl, { timeoutMs = 120_000, gone = () => undefined } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    const reason = await gone();
    if (reason) throw new CheckError(`the server stopped before it was healthy: ${reason}`);
    try {
      const { status, text } = await timedFetch(`${baseUrl}/health`, {}, 5_000);
      if (status === 200) return JSON.parse(text);
      last = `HTTP ${status}: ${text.slice(0, 300)}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(500);
  }
  throw new CheckError(`/health did not answer 200 within ${timeoutMs / 1000}s (last: ${last})`);
}

/** A page of the dashboard and one of its scripts: Next serves pages and static files. */
export async function checkDashboard(baseUrl) {
  const page = await timedFetch(`${baseUrl}/setup`, { redirect: "manual" }, 30_000);
  check(page.status === 200, `GET /setup answered ${page.status}`);
  const asset = /\/_next\/static\/[^"']+\.js/.exec(page.text)?.[0];
  check(asset, "the /setup page references no /_next/static script");
  const script = await timedFetch(`${baseUrl}${asset}`);
  check(script.status === 200, `${asset} answered ${script.status} (static files missing?)`);
  return asset;
}

export const MODEL = "gpt-4o-mini";

/** POST /v1/llm/generate through the provider emulator; `directives` slow or fault it. */
export async function generate(baseUrl, key, words, { directives = "", timeoutMs = 60_000 } = {}) {
  const { status, text } = await timedFetch(
    `${baseUrl}/v1/llm/generate`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: MODEL,
        messages: [{ role: "user", content: `${words}${directives ? ` [[emulator ${directives}]]` : ""}` }],
      }),
    },
    timeoutMs,
  );
  check(status === 200, `POST /v1/llm/generate answered ${status}: ${text.slice(0, 300)}`);
  const body = JSON.parse(text);
  check(body.response === `You said: ${words}`, `unexpected generation: ${JSON.stringify(body).slice(0, 300)}`);
  check(body.provider === "openai" && body.usage?.total_tokens > 0, `no usage in ${JSON.stringify(body).slice(0, 300)}`);
  return body;
}

/** The same, streamed: server-sent text deltas, then a "done" event with the whole answer. */
export async function generateStreamed(baseUrl, key, words) {
  const { status, text } = await timedFetch(
    `${baseUrl}/v1/llm/generate`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, stream: true, messages: [{ role: "user", content: words }] }),
    },
    60_000,
  );
  check(status === 200, `POST /v1/llm/generate (stream) answered ${status}: ${text.slice(0, 300)}`);
  const events = text
    .split("\n\n")
    .filter((f) => f.startsWith("data: "))
    .map((f) => f.slice(6));
  check(events.at(-1) === "[DONE]", `the stream did not end with [DONE]: ${text.slice(-300)}`);
  const parsed = events.slice(0, -1).map((e) => JSON.parse(e));
  const deltas = parsed
    .filter((e) => e.type === "delta")
    .map((e) => e.text)
    .join("");
  check(deltas === `You said: ${words}` && parsed.at(-1)?.type === "done", `unexpected stream: ${text.slice(0, 300)}`);
  return deltas;
}

/** POST /v1/llm/generate-embeddings with an OpenAI model (through the emulator). */
export async function embed(baseUrl, key, texts) {
  const { status, text } = await timedFetch(`${baseUrl}/v1/llm/generate-embeddings`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "text-embedding-3-small", texts }),
  });
  check(status === 200, `POST /v1/llm/generate-embeddings answered ${status}: ${text.slice(0, 300)}`);
  const body = JSON.parse(text);
  check(body.embeddings?.length === texts.length && body.embeddings[0].length === 1536, `unexpected embeddings: ${text.slice(0, 200)}`);
  return body;
}

/** Today's requests for MODEL, as GET /v1/llm/usage counts them. */
export async function usageRequests(baseUrl, key) {
  const today = new Date().toISOString().slice(0, 10);
  const { status, text } = await timedFetch(`${baseUrl}/v1/llm/usage?start_date=${today}&end_date=${today}`, {
    headers: { authorization: `Bearer ${key}` },
  });
  check(status === 200, `GET /v1/llm/usage answered ${status}: ${text.slice(0, 300)}`);
  return JSON.parse(text).requests_by_model?.[MODEL] ?? 0;
}

/** Waits until today's usage shows `expected` requests (the writer flushes about every second). */
export async function waitForUsage(baseUrl, key, expected, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let seen = -1;
  while (Date.now() < deadline) {
    seen = await usageRequests(baseUrl, key);
    if (seen === expected) return seen;
    await sleep(500);
  }
  throw new CheckError(`usage shows ${seen} requests for ${MODEL}, expected ${expected}`);
}

/** The provider emulator (tests/emulators), on a free port of the loopback interface. */
export async function startEmulator(openaiKey) {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", "tests/emulators/main.ts", "--port", String(port), "--openai-key", openaiKey], {
    cwd: root,
    detached: true,
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (chunk) => (out += chunk));
  const deadline = Date.now() + 30_000;
  while (!out.includes("listening") && Date.now() < deadline) {
    if (child.exitCode !== null) throw new CheckError(`the provider emulator exited (${child.exitCode})`);
    await sleep(100);
  }
  check(out.includes("listening"), "the provider emulator did not start within 30s");
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    key: openaiKey,
    stop: () => {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // already gone
      }
    },
  };
}
