// The CLI as a user runs it: a child process on a fresh embedded database. --json prints one JSON
// document on stdout and nothing else (log lines go to stderr), every group answers --help, and
// `users create` takes the password from stdin when it is not an option (no password in the shell's history).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
const dataDir = mkdtempSync(path.join(tmpdir(), "ms-cli-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

type Run = { code: number | null; stdout: string; stderr: string };

function cli(args: string[], stdin?: string): Promise<Run> {
  const child = spawn(process.execPath, ["--import", "tsx", "--import", "./scripts/server-only-hook.mjs", "server/cli/main.ts", ...args], {
    cwd: root,
    env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: "", LOG_LEVEL: "info", LOG_FORMAT: "json", NODE_ENV: "test" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  if (stdin !== undefined) child.stdin.write(stdin);
  child.stdin.end();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (child.kill("SIGKILL"), reject(new Error(`cli ${args.join(" ")} did not finish`))), 60_000);
    child.on("close", (code) => (clearTimeout(timer), resolve({ code, stdout, stderr })));
  });
}

describe("the CLI", { timeout: 120_000 }, () => {
  it("prints exactly one JSON document with --json, its log lines going to stderr", async () => {
    const run = await cli(["keys", "list", "--json"]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual([]);
    // The database's log line went to stderr.
    expect(run.stderr).toContain('"msg":"database open"');
  });

  it("creates a user with the password read from stdin, and lists it as JSON", async () => {
    const created = await cli(["users", "create", "--email", "cli-user@example.com", "--admin"], "a-long-password\n");
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^Created admin cli-user@example\.com \(id [^)]+\)\.\n$/);
    expect(created.stdout + created.stderr).not.toContain("a-long-password");
    const listed = await cli(["users", "list", "--json"]);
    expect(listed.code).toBe(0);
    const users = JSON.parse(listed.stdout) as { email: string; role: string }[];
    expect(users.map((u) => [u.email, u.role])).toContainEqual(["cli-user@example.com", "admin"]);
  });

  it("refuses an empty password on stdin with a message, and creates nothing", async () => {
    const run = await cli(["users", "create", "--email", "nobody@example.com"], "");
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("No password given");
    const listed = await cli(["users", "list", "--json"]);
    expect((JSON.parse(listed.stdout) as { email: string }[]).map((u) => u.email)).not.toContain("nobody@example.com");
  });

  it("answers --help for every group, listing the group's commands", async () => {
    for (const [group, commands] of [
      ["keys", ["keys create", "keys list", "keys revoke", "keys rotate"]],
      ["users", ["users create", "users list", "users update"]],
      ["db", ["db migrate"]],
    ] as const) {
      const run = await cli([group, "--help"]);
      expect(run.code, group).toBe(0);
      for (const c of commands) expect(run.stdout).toContain(c);
    }
    const bare = await cli(["keys"]);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain("keys create");
  });
});
