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

  it("sets a key's own controls with keys create and keys update, and refuses bad flags with a message", async () => {
    const created = await cli([
      "keys",
      "create",
      "--name",
      "controlled",
      "--models",
      "gpt-4o-mini,text-embedding-3-small",
      "--rpm",
      "30",
      "--tpm",
      "10000",
      "--max-parallel",
      "2",
      "--budget",
      "5",
      "--budget-period",
      "day",
      "--expires",
      "30d",
      "--json",
    ]);
    expect(created.code, created.stderr).toBe(0);
    const { id } = JSON.parse(created.stdout) as { id: string };
    const listed = (JSON.parse((await cli(["keys", "list", "--json"])).stdout) as Record<string, unknown>[]).find((k) => k.id === id)!;
    expect(listed).toMatchObject({
      allowedModels: ["gpt-4o-mini", "text-embedding-3-small"],
      rpmLimit: 30,
      tpmLimit: 10000,
      maxParallel: 2,
      monthlyBudgetUsd: "5",
      budgetPeriod: "day",
    });
    const days = (new Date(listed.expiresAt as string).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThan(30.1);

    const updated = await cli([
      "keys",
      "update",
      id,
      "--rpm",
      "none",
      "--models",
      "all",
      "--budget-period",
      "week",
      "--expires",
      "2099-01-31",
    ]);
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stdout).toContain("budget $5 per week");
    expect(updated.stdout).toContain("expires 2099-01-31T00:00:00.000Z");
    const after = (JSON.parse((await cli(["keys", "list", "--json"])).stdout) as Record<string, unknown>[]).find((k) => k.id === id)!;
    expect(after).toMatchObject({ allowedModels: [], rpmLimit: null, tpmLimit: 10000, budgetPeriod: "week" });

    const bad = await cli(["keys", "update", id, "--rpm", "fast"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("--rpm must be a whole number");
    const unknown = await cli(["keys", "update", id, "--models", "gpt-nonesuch"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('Unknown model "gpt-nonesuch"');
    const nothing = await cli(["keys", "update", id]);
    expect(nothing.stderr).toContain("Nothing to change");
  });

  it("answers --help for every group, listing the group's commands", async () => {
    for (const [group, commands] of [
      ["keys", ["keys create", "keys list", "keys update", "keys revoke", "keys rotate"]],
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
