// The CLI's team commands as a user runs them: child processes on a fresh embedded database.
// `teams create|list|update|add-member|remove-member` and `keys create --team`, each change leaving
// exactly one audit row (a repeated add that changes nothing leaves none), bad input a one-line message.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { withDatabase } from "@/tests/support/host.ts";

const root = path.resolve(import.meta.dirname, "../..");
const dataDir = mkdtempSync(path.join(tmpdir(), "ms-teams-cli-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

type Run = { code: number | null; stdout: string; stderr: string };

function cli(args: string[], stdin?: string): Promise<Run> {
  const child = spawn(process.execPath, ["--import", "tsx", "--import", "./scripts/server-only-hook.mjs", "server/cli/main.ts", ...args], {
    cwd: root,
    env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: "", LOG_LEVEL: "silent", NODE_ENV: "test" },
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

async function ok(args: string[], stdin?: string): Promise<Run> {
  const run = await cli(args, stdin);
  expect(run.code, `${args.join(" ")}: ${run.stderr}`).toBe(0);
  return run;
}

describe("the CLI's team commands", { timeout: 300_000 }, () => {
  it("creates and lists teams, manages members and makes a team's key, one audit row per change", async () => {
    await ok(["users", "create", "--email", "owner@teams-cli.example.com"], "a-long-password\n");
    await ok(["users", "create", "--email", "member@teams-cli.example.com"], "a-long-password\n");
    const created = await ok([
      "teams",
      "create",
      "search",
      "--owner",
      "owner@teams-cli.example.com",
      "--budget",
      "10",
      "--budget-period",
      "day",
      "--rpm",
      "60",
    ]);
    expect(created.stdout).toMatch(
      /^Created team search \(id \S+, budget \$10 per day, 60 rpm, owner owner@teams-cli\.example\.com\)\.\n$/,
    );
    await ok(["teams", "add-member", "search", "member@teams-cli.example.com", "--role", "viewer"]);
    const promoted = await ok(["teams", "add-member", "search", "member@teams-cli.example.com", "--role", "member"]);
    expect(promoted.stdout).toBe("member@teams-cli.example.com is now a member of search.\n");
    await ok(["teams", "add-member", "search", "member@teams-cli.example.com", "--role", "member"]); // no change, no row
    const key = JSON.parse((await ok(["keys", "create", "--name", "search-app", "--team", "search", "--json"])).stdout) as {
      id: string;
      key: string;
    };
    expect(key.key).toMatch(/^ms_/);
    const keys = JSON.parse((await ok(["keys", "list", "--team", "search", "--json"])).stdout) as {
      id: string;
      teamName: string;
      userId: null;
    }[];
    expect(keys).toEqual([expect.objectContaining({ id: key.id, teamName: "search", userId: null })]);
    await ok(["teams", "remove-member", "search", "member@teams-cli.example.com"]);
    await ok(["teams", "update", "search", "--rpm", "none"]);
    const listed = await ok(["teams", "list"]);
    expect(listed.stdout).toMatch(/search\s+\$10 per day\s+\$0\s+-\s+1\s+1/);

    const bad = await cli(["teams", "add-member", "search", "member@teams-cli.example.com", "--role", "boss"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe("--role must be one of owner, member, viewer");
    const unknown = await cli(["teams", "remove-member", "nowhere", "member@teams-cli.example.com"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toBe("No team nowhere");
    const last = await cli(["teams", "remove-member", "search", "owner@teams-cli.example.com"]);
    expect(last.stderr).toContain("last owner");
    const badName = await cli(["teams", "create", "Search Team"]);
    expect(badName.stderr).toContain("Invalid name: must be 1 to 63 lower-case letters");

    await withDatabase({ dataDir }, async (db) => {
      const rows = await db.rawQuery<{
        action: string;
        actor_kind: string;
        target_id: string;
        before: string | null;
        after: string | null;
      }>("SELECT action, actor_kind, target_id, before::text, after::text FROM audit_events WHERE target_kind = 'team' ORDER BY id");
      expect(rows.map((r) => r.action)).toEqual([
        "team.create",
        "team.member_add", // the owner
        "team.member_add", // the member, as a viewer
        "team.member_update", // viewer -> member (the repeat changed nothing and wrote nothing)
        "team.member_remove",
        "team.update",
      ]);
      expect(rows.every((r) => r.actor_kind === "cli")).toBe(true);
      expect(JSON.parse(rows[3]!.before!)).toMatchObject({ email: "member@teams-cli.example.com", role: "viewer" });
      expect(JSON.parse(rows[3]!.after!)).toMatchObject({ role: "member" });
      expect(JSON.parse(rows[5]!.before!)).toMatchObject({ rpmLimit: 60 });
      expect(JSON.parse(rows[5]!.after!)).toMatchObject({ rpmLimit: null });
      const keyRows = await db.rawQuery<{ after: string }>("SELECT after::text FROM audit_events WHERE action = 'key.create'");
      expect(keyRows).toHaveLength(1);
      expect(JSON.parse(keyRows[0]!.after)).toMatchObject({ name: "search-app", teamName: "search", userId: null });
      expect(keyRows[0]!.after).not.toContain(key.key);
    });
  });
});
