// The fuzz suite's server: the real entry point (`node server/host/main.ts --api-only`) in a child
// process, so that a case which hangs the server's event loop or crashes it is seen as such (its
// requests miss their deadline, /ping stops answering) rather than stopping the suite with it. It
// runs on a fresh database of the given kind, its providers the wire-level emulator (so generation
// and embeddings really run) and, on PostgreSQL (whose Debian build has no pgvector), its vectors in
// the Qdrant emulator; pgvector on PGlite. Rate limits are lifted so that every case reaches the
// code behind them. Also the callers (an admin key, a plain key, a platform JWT, nobody) and each
// one's fixtures.
import { Agent, request as httpRequest } from "node:http";
import { SignJWT } from "jose";
import { afterAll, beforeAll } from "vitest";
import type { DatabaseKind } from "@/server/db/index.ts";
import { startProviderEmulator, type ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { startQdrantEmulator, type QdrantEmulator } from "@/tests/emulators/qdrant-emulator.ts";
import { createKey, emulatorEnv, NO_RATE_LIMITS, startServer, type Servers } from "@/tests/support/host.ts";
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

export function useFuzzServer(kind: DatabaseKind): FuzzServer {
  let server: Servers | undefined;
  let exit: number | null | undefined;
  let emulator: ProviderEmulator | undefined;
  let qdrant: QdrantEmulator | undefined;
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
          // Node frames a DELETE's body only with an explicit length (it sends no chunked encoding
          // for DELETE): without it the server reads the body as the next request and resets the
          // connection, which a large body then meets as ECONNRESET.
          headers: req.body === undefined ? req.headers : { "content-length": String(Buffer.byteLength(req.body)), ...req.headers },
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
    // On PostgreSQL (no pgvector here), the vectors in the Qdrant emulator.
    qdrant = kind === "postgres" ? await startQdrantEmulator() : undefined;
    // Rate limits out of the way: every case should reach the code behind them. The callers' keys
    // are in the database before the server starts on it.
    let admin = { key: "", id: "" };
    let user = admin;
    let spare = admin;
    server = await startServer({
      env: { JWT_SECRET, ...NO_RATE_LIMITS, ...emulatorEnv(emulator), QDRANT_URL: qdrant?.url ?? "" },
      database: kind,
      seed: async (db) => {
        admin = await createKey(db, { name: "fuzz-admin", isAdmin: true, tier: "premium" });
        user = await createKey(db, { name: "fuzz-user" });
        spare = await createKey(db, { name: "fuzz-spare" });
      },
    });
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
    await server?.dispose();
    await emulator?.close();
    await qdrant?.close();
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
