// The floor for bench/gateway: a bare node:http server that forwards each request to the upstream
// with an undici Pool and pipes the answer back. No auth, no parsing, no accounting.
//   node --import tsx bench/bare-proxy.ts <port> <upstream-url>
import { createServer } from "node:http";
import { Pool } from "undici";

const [portArg, upstream] = process.argv.slice(2);
const pool = new Pool(upstream!, { connections: 128, pipelining: 1 });

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    pool
      .request({
        path: req.url ?? "/",
        method: (req.method ?? "GET") as "POST",
        headers: { "content-type": req.headers["content-type"] ?? "application/json", authorization: req.headers.authorization ?? "" },
        body: Buffer.concat(chunks),
      })
      .then(async (up) => {
        res.writeHead(up.statusCode, { "content-type": String(up.headers["content-type"] ?? "application/json") });
        for await (const chunk of up.body) res.write(chunk);
        res.end();
      })
      .catch(() => {
        res.writeHead(502).end();
      });
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(portArg), "127.0.0.1", () => console.log(`bare proxy listening on ${portArg}`));
process.once("SIGTERM", () => server.close(() => process.exit(0)));
