// The fuzz suite's server: the real entry point (`node server/host/main.ts --api-only`) in a child
// process, so that a case which hangs the server's event loop or crashes it is seen as such (its
// requests miss their deadline, /ping stops answering) rather than stopping the suite with it. It
// runs on a fresh database of the given kind, its providers the wire-level emulator (so generation
// and embeddings really run) and, on PostgreSQL (whose Debian build has no pgvector), its vectors in
// the Qdrant emulator; pgvector on PGlite. Rate limits are lifted so that every case reaches the
// code behind them. Also the callers (an admin key, a plain key, a platform JWT, nobody) and each
// one's fixtures.
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { SignJWT } from "jose";
import { afterAll, beforeAll } from "vitest";
import { openDatabase, type DatabaseHandle, type DatabaseKind } from "@/server/db/index.ts";
import { generateApiKey, hashApiKey } from "@/server/access/key-lookup.ts";
import { startProviderEmulator, type ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { startQdrantEmulator, type QdrantEmulator } from "@/tests/emulators/qdrant-emulator.ts";
import { createScratchPostgres } from "@/tests/support/db.ts";
import type { ScratchPostgres } from "@/tests/support/scratch-postgres.ts";
import { startServerProcess, type ServerProcess } from "@/tests/support/server-process.ts";
import type { Fixtures } from "./samples.ts";

export const JWT_SECRET = "fuzz-jwt-secret-0123456789abcdefghij";
const VECTOR_SIZE = 384; // local-hash-384's, so documents and query_text work on the same collections

export type Caller = {
  name: "admin" | "user" | "jwt" | "nobody";
  headers: Record<string, string>;
  fixtures: Fixtures;
};

export type Sent = { status: number; body: string; ms: number };
export type Outgoing = { method: string; path: string; headers?: Record<string, string>; body?: string | Buffer };

export type FuzzServer = {
  readonly callers: Caller[];
  /** One request with a deadline; a connection failure or a missed deadline is status 0. */
  send(req: Outgoing, deadlineMs?: number): Promise<Sent>;
  /** Makes the callers' fixture collections exist again (a DELETE case may have dropped one). */
  ensureFixtures(): Promise<void>;
  /** The server's log lines that mention `text` (a request id), for a failure's report. */
  logLinesWith(text: string): string[];
  /** Set once the server process has exited. */
  exitCode(): number | null | undefined;
  readonly vectorBackend: "pgvector" | "qdrant";
};

/** Rate limits out of the way: every case should reach the code behind them. */
const NO_LIMITS = JSON.stringify({
  generate: "off",
  "generate-embeddings": "off",
  "vector-search": "off",
  "tier:basic": "off",
  "tier:standard": "off",
  "tier:premium": "off",
});

async function addKey(db: DatabaseHandle, name: string, extra: { isAdmin?: boolean; tier?: "basic" | "standard" | "premium" } = {}) {
  const key = generateApiKey();
  const row = await db.prisma.apiKey.create({ data: { name, prefix: key.slice(0, 11), keyHash: hashApiKey(key), ...extra } });
  return { key, id: row.id };
}

export function useFuzzServer(kind: DatabaseKind): FuzzServer {
  let server: ServerProcess | undefined;
  let exit: number | null | undefined;
  let emulator: ProviderEmulator | undefined;
  let qdrant: QdrantEmulator | undefined;
  let scratch: ScratchPostgres | undefined;
  let dataDir: string | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const callers: Caller[] = [];
  const vectorBackend = kind === "postgres" ? "qdrant" : "pgvector";

  const send = (req: Outgoing, deadlineMs = 20_000): Promise<Sent> =>
    new Promise((resolve) => {
      const started = performance.now();
      const u = new URL(server!.url);
      const done = (status: number, body: string) => resolve({ status, body, ms: performance.now() - started });
      const out = httpRequest(
        {
          host: u.hostname,
          port: u.port,
          method: req.method,
          path: req.path,
          headers: req.headers,
          agent,
          signal: AbortSignal.timeout(deadlineMs),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => done(res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8")));
          res.on("error", (e) => done(0, `the answer broke off: ${e.message}`));
        },
      );
      out.on("error", (e) => done(0, e.name === "AbortError" ? `no answer within ${deadlineMs} ms` : `request failed: ${e.message}`));
      out.end(req.body);
    });

  const ensureFixtures = async () => {
    for (const c of callers) {
      if (c.name === "nobody") continue;
      const r = await send({
        method: "POST",
        path: "/v1/vector/collections",
        headers: { ...c.headers, "content-type": "application/json" },
        body: JSON.stringify({ collection_name: c.fixtures.collection, vector_size: VECTOR_SIZE }),
      });
      if (r.status !== 200 && r.status !== 409) throw new Error(`fixture collection for ${c.name}: ${r.status} ${r.body}`);
    }
  };

  beforeAll(async () => {
    emulator = await startProviderEmulator({ maxLogEntries: 0 });
    const env: Record<string, string> = {
      JWT_SECRET,
      RATE_LIMIT_REQUESTS: "100000000",
      RATE_LIMITS: NO_LIMITS,
      OPENAI_API_KEY: emulator.openaiKey!,
      OPENAI_BASE_URL: emulator.openaiBaseUrl,
      ANTHROPIC_API_KEY: emulator.anthropicKey!,
      ANTHROPIC_BASE_URL: emulator.anthropicBaseUrl,
      REDIS_URL: "",
      QDRANT_URL: "",
    };
    // The database first, with the callers' keys in it; then the server on it.
    let db: DatabaseHandle;
    if (kind === "postgres") {
      scratch = await createScratchPostgres();
      db = await openDatabase({ databaseUrl: scratch.url, dataDir: "" });
      env.DATABASE_URL = scratch.url;
      qdrant = await startQdrantEmulator();
      env.QDRANT_URL = qdrant.url;
    } else {
      dataDir = mkdtempSync(path.join(tmpdir(), "model-service-fuzz-"));
      db = await openDatabase({ dataDir, template: process.env.PGLITE_TEMPLATE });
      env.DATA_DIR = dataDir;
      env.DATABASE_URL = "";
    }
    let admin, user, spare;
    try {
      admin = await addKey(db, "fuzz-admin", { isAdmin: true, tier: "premium" });
      user = await addKey(db, "fuzz-user");
      spare = await addKey(db, "fuzz-spare");
    } finally {
      await db.close();
    }
    server = await startServerProcess(env);
    void server.exited.then((code) => (exit = code));

    const jwt = await platformJwt("fuzz-platform-user");
    const base = {
      chatModels: ["gpt-4o-mini", "claude-3-haiku-20240307"],
      embeddingModels: ["local-hash-384", "text-embedding-3-small"],
      vectorSize: VECTOR_SIZE,
      editableModel: "gpt-4-0613",
    };
    callers.push(
      {
        name: "admin",
        headers: { authorization: `Bearer ${admin.key}` },
        fixtures: { ...base, collection: "fz-admin", spareKeyId: spare.id },
      },
      { name: "user", headers: { "x-api-key": user.key }, fixtures: { ...base, collection: "fz-user", spareKeyId: user.id } },
      { name: "jwt", headers: { authorization: `Bearer ${jwt}` }, fixtures: { ...base, collection: "fz-jwt", spareKeyId: spare.id } },
      { name: "nobody", headers: {}, fixtures: { ...base, collection: "fz-nobody", spareKeyId: spare.id } },
    );
    await ensureFixtures();
  }, 180_000);

  afterAll(async () => {
    agent.destroy();
    if (server && exit === undefined) await server.stop();
    await emulator?.close();
    await qdrant?.close();
    await scratch?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  return {
    callers,
    send,
    ensureFixtures,
    logLinesWith: (text) => (server?.output() ?? "").split("\n").filter((l) => l.includes(text)),
    exitCode: () => exit,
    vectorBackend,
  };
}

/** A platform JWT for `sub` (any string: the suite sends unstorable ones). */
export function platformJwt(sub: string): Promise<string> {
  return new SignJWT({ sub }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("2h").sign(new TextEncoder().encode(JWT_SECRET));
}
