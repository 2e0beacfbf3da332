// Starts the real server entry point (server/host/main.ts) as a child process, the way `npm start`
// does: plain `node --import tsx`, no tsx CLI in between. (The tsx CLI relays SIGTERM and kills its
// child with SIGKILL if the child does not acknowledge within 30 ms, which a busy server may not.)
import { spawn, type ChildProcess } from "node:child_process";

export const SERVER_NODE_ARGS = ["--import", "tsx", "--import", "./scripts/server-only-hook.mjs", "server/host/main.ts"];

export type ServerProcess = {
  child: ChildProcess;
  url: string;
  /** Everything the process printed so far (JSON log lines). */
  output: () => string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>;
};

/** Spawns `node server/host/main.ts [args]` with PORT=0 and waits for its "listening" log line (so LOG_LEVEL must keep info). */
export async function startServerProcess(
  env: Record<string, string>,
  args: string[] = ["--api-only"],
  timeoutMs = 60_000,
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...SERVER_NODE_ARGS, ...args], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const check = () => {
      const m = /"url":"(http:[^"]+)"[^\n]*"msg":"Model Service listening"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    child,
    url,
    output: () => out,
    exited,
    stop: async () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}
