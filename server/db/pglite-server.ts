// Serves the owner's PGlite to other local processes over the PostgreSQL wire protocol
// (@electric-sql/pglite-socket), so the CLI and tools such as psql can use the database while the
// server holds DATA_DIR.
//
// PGlite has one session. pglite-socket 0.1.3 queues socket clients' messages and, while a client
// is inside a transaction, runs only that client's messages; but it knows nothing of the owner
// process's own queries, which go to PGlite directly (through pglite-prisma-adapter). Without the
// guard below, an owner query that arrives while a socket client is between BEGIN and COMMIT runs
// inside that client's transaction (and vanishes with its ROLLBACK), and a socket query can run
// inside an owner's `prisma.$transaction`. The guard makes the socket server hold PGlite's
// transaction mutex (the one `query`, `exec` and `transaction` take) from a client's first message
// until that client is outside any transaction again; and it keeps an extended-protocol exchange
// (Parse ... Sync) of one client together, since PGlite's single session has one unnamed statement.
import "server-only";
import type { PGlite } from "@electric-sql/pglite";

const SYNC = 0x53; // 'S'
const QUERY = 0x51; // 'Q'
const TERMINATE = 0x58; // 'X'

/** Ends an extended-protocol exchange and runs a simple query, as raw wire messages. */
function syncThenQuery(sql: string): Uint8Array {
  const body = Buffer.from(`${sql}\0`, "utf8");
  const q = Buffer.alloc(5 + body.length);
  q[0] = QUERY;
  q.writeInt32BE(4 + body.length, 1);
  body.copy(q, 5);
  const s = Buffer.from([SYNC, 0, 0, 0, 4]);
  return new Uint8Array(Buffer.concat([s, q]));
}

type Release = () => void;

/** Stands in for the PGlite instance that pglite-socket drives; see the header comment. */
export class GuardedPglite {
  #lease: Release | null = null;
  #exchangeOpen = false;

  constructor(readonly db: PGlite) {}

  get waitReady(): Promise<void> {
    return this.db.waitReady;
  }

  /** pglite-socket keeps serving the same client while this is true. */
  isInTransaction(): boolean {
    return this.#exchangeOpen || this.db.isInTransaction();
  }

  async runExclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.#lease) this.#lease = await this.#acquire();
    try {
      return await this.db.runExclusive(fn);
    } finally {
      this.#releaseIfIdle();
    }
  }

  async execProtocolRawStream(message: Uint8Array, options: { syncToFs?: boolean; onRawData: (data: Uint8Array) => void }): Promise<void> {
    const type = message[0];
    // A startup packet starts with a zero length byte; Sync and a simple Query end an exchange.
    this.#exchangeOpen = !(type === 0 || type === SYNC || type === QUERY || type === TERMINATE);
    await this.db.execProtocolRawStream(message, options);
  }

  /** pglite-socket calls this with ROLLBACK when a client disconnects inside a transaction. */
  async exec(sql: string): Promise<unknown[]> {
    if (!this.#lease) this.#lease = await this.#acquire();
    try {
      await this.db.runExclusive(() => this.db.execProtocolRawStream(syncThenQuery(sql), { onRawData: () => undefined }));
    } finally {
      this.#exchangeOpen = false;
      this.#releaseIfIdle();
    }
    return [];
  }

  #acquire(): Promise<Release> {
    return new Promise<Release>((acquired) => {
      void this.db._runExclusiveTransaction(() => new Promise<void>((release) => acquired(release)));
    });
  }

  #releaseIfIdle(): void {
    if (this.#lease && !this.isInTransaction()) {
      const release = this.#lease;
      this.#lease = null;
      release();
    }
  }
}

export interface PgliteServer {
  port: number;
  stop(): Promise<void>;
}

/** Starts a pglite-socket server for `db` on 127.0.0.1 and a free port. */
export async function startPgliteServer(db: PGlite, options: { port?: number; maxConnections?: number } = {}): Promise<PgliteServer> {
  const { PGLiteSocketServer } = await import("@electric-sql/pglite-socket");
  const server = new PGLiteSocketServer({
    db: new GuardedPglite(db) as unknown as PGlite,
    host: "127.0.0.1",
    port: options.port ?? 0,
    // 0.1.3 documents 100 but defaults to 1.
    maxConnections: options.maxConnections ?? 100,
  });
  await server.start();
  const port = Number(server.getServerConn().split(":").pop());
  return { port, stop: () => server.stop() };
}
