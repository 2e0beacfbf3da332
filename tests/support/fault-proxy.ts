// A TCP proxy of the tests' own, put between a server under test and a shared PostgreSQL or Redis,
// so that a test can take "the database" or "Redis" away without touching the machine's real ones
// (which other test files, other people and CI share):
//   up    forwards every byte both ways;
//   down  closes every connection and refuses new ones (ECONNREFUSED), as a stopped server does;
//   hung  accepts connections and holds them and their bytes without answering, as a server that
//         is stuck (a full disk, a lock, a paused process) does; existing connections stop too.
// Back to `up`, held bytes are delivered in order (a paused server that resumes), so nothing a
// client wrote is lost in the proxy. Imports nothing from vitest (benchmarks may use it too).
import net from "node:net";

export type FaultMode = "up" | "down" | "hung";

export type FaultProxy = {
  readonly host: string;
  readonly port: number;
  mode(): FaultMode;
  /** Changes the mode; resolves once new connections see it (listening again, or refused). */
  set(mode: FaultMode): Promise<void>;
  /** `url` (postgresql://…, redis://…) with its host and port replaced by the proxy's. */
  urlFor(url: string): string;
  /** Client connections open now. */
  connections(): number;
  close(): Promise<void>;
};

type Pair = {
  client: net.Socket;
  upstream: net.Socket | undefined;
  /** Bytes held while hung, per direction, delivered in order once up again. */
  toUpstream: Buffer[];
  toClient: Buffer[];
};

export async function startFaultProxy(target: { host: string; port: number }, options: { host?: string } = {}): Promise<FaultProxy> {
  const host = options.host ?? "127.0.0.1";
  let mode: FaultMode = "up";
  const pairs = new Set<Pair>();

  const connectUpstream = (pair: Pair) => {
    const upstream = net.connect(target.port, target.host);
    pair.upstream = upstream;
    upstream.setNoDelay(true);
    upstream.on("data", (chunk: Buffer) => {
      if (mode === "up") pair.client.write(chunk);
      else pair.toClient.push(chunk);
    });
    upstream.on("connect", () => flush(pair));
    const end = () => drop(pair);
    upstream.on("error", end);
    upstream.on("close", end);
  };

  const flush = (pair: Pair) => {
    if (mode !== "up") return;
    for (const chunk of pair.toClient.splice(0)) pair.client.write(chunk);
    if (pair.upstream && !pair.upstream.connecting) for (const chunk of pair.toUpstream.splice(0)) pair.upstream.write(chunk);
  };

  const drop = (pair: Pair) => {
    if (!pairs.delete(pair)) return;
    pair.client.destroy();
    pair.upstream?.destroy();
  };

  const server = net.createServer((client) => {
    const pair: Pair = { client, upstream: undefined, toUpstream: [], toClient: [] };
    pairs.add(pair);
    client.setNoDelay(true);
    client.on("data", (chunk: Buffer) => {
      if (mode === "up" && pair.upstream && !pair.upstream.connecting) pair.upstream.write(chunk);
      else pair.toUpstream.push(chunk);
    });
    const end = () => drop(pair);
    client.on("error", end);
    client.on("close", end);
    // Hung: the connection is accepted but goes nowhere until the proxy is up again.
    if (mode === "up") connectUpstream(pair);
  });

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;

  return {
    host,
    port,
    mode: () => mode,
    async set(next) {
      if (next === mode) return;
      const previous = mode;
      mode = next;
      if (next === "down") {
        for (const pair of [...pairs]) drop(pair);
        await new Promise<void>((resolve) => server.close(() => resolve()));
        return;
      }
      // Listening on the same port again: clients keep the address they were given.
      if (previous === "down") await listen(port);
      if (next === "up") {
        for (const pair of pairs) {
          if (!pair.upstream) connectUpstream(pair);
          else flush(pair);
        }
      }
    },
    urlFor(url) {
      const u = new URL(url);
      u.hostname = host;
      u.port = String(port);
      return u.toString();
    },
    connections: () => pairs.size,
    async close() {
      mode = "down";
      for (const pair of [...pairs]) drop(pair);
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The host and port of a postgresql:// or redis:// URL, for `startFaultProxy`. */
export function targetOf(url: string, defaultPort: number): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname || "127.0.0.1", port: u.port ? Number(u.port) : defaultPort };
}
