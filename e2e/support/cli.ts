// The service's CLI, run against the e2e server's data directory (scripts/e2e.mjs sets E2E_DATA_DIR),
// for the specs that set something up as an operator would (a key with a setting, demo usage, a team).
import { execFile } from "node:child_process";

/** Runs the CLI (`npm run cli -- <args>`) in a child Node, with `stdin` written to it when given; its stdout. */
export function cli(args: string[], stdin?: string): Promise<string> {
  const dataDir = process.env.E2E_DATA_DIR;
  if (!dataDir) throw new Error("E2E_DATA_DIR is set by `npm run test:e2e` (scripts/e2e.mjs)");
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ["--import", "tsx", "--import", "./scripts/server-only-hook.mjs", "server/cli/main.ts", ...args],
      { env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: "", LOG_LEVEL: "warn" }, timeout: 120_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`cli ${args.join(" ")} failed: ${stderr || err.message}`)) : resolve(stdout)),
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}
