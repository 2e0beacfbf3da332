// The CLI behind `npm run cli -- <command> [options]` (entry point: main.ts).
import { EnvError, loadEnv } from "../kernel/env.ts";
import { applyDotEnvFile } from "../kernel/dotenv.ts";
import { redactSecrets } from "../kernel/logger.ts";
import { commandHelp, parseCommandArgs, UsageError, type CliIO, type Command } from "./command.ts";

/** One line per command: its name and the first sentence of its summary. */
const commandLines = (cmds: readonly Command[]) =>
  cmds.map((c) => `  ${c.name.padEnd(20)} ${c.summary.split(". ")[0]!.replace(/\.$/, "")}`);

export async function runCli(argv: string[], io: CliIO): Promise<number> {
  const { commands } = await import("./commands.ts");
  const overview = () =>
    [
      "Usage: npm run cli -- <command> [options]",
      "",
      "Commands:",
      ...commandLines(commands),
      "",
      "Run `npm run cli -- <command> --help` for a command's options.",
    ].join("\n");

  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    io.out(overview());
    return argv.length === 0 ? 1 : 0;
  }
  // The longest command name that the arguments start with: "db migrate" before "db".
  const cmd = [...commands]
    .sort((a, b) => b.name.split(" ").length - a.name.split(" ").length)
    .find((c) => c.name.split(" ").every((word, i) => argv[i] === word));
  if (!cmd) {
    // A group's name (`keys`, `users`, `db`), alone or with --help: the group's commands.
    const group = commands.filter((c) => c.name.split(" ").length > 1 && c.name.split(" ")[0] === argv[0]);
    const rest = argv.slice(1);
    if (group.length && (rest.length === 0 || (rest.length === 1 && ["--help", "-h", "help"].includes(rest[0]!)))) {
      const lines = [
        `Usage: npm run cli -- ${argv[0]} <command> [options]`,
        "",
        "Commands:",
        ...commandLines(group),
        "",
        `Run \`npm run cli -- ${argv[0]} <command> --help\` for a command's options.`,
      ].join("\n");
      if (rest.length === 0) {
        io.err(lines);
        return 1;
      }
      io.out(lines);
      return 0;
    }
    io.err(`Unknown command: ${argv.join(" ")}\n\n${overview()}`);
    return 1;
  }
  try {
    const values = parseCommandArgs(cmd, argv.slice(cmd.name.split(" ").length));
    if (values === "help") {
      io.out(commandHelp(cmd));
      return 0;
    }
    applyDotEnvFile();
    loadEnv();
    const code = await cmd.run(values, io);
    return code ?? 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof EnvError) {
      io.err(e.message);
      return 1;
    }
    io.err(`Error: ${redactSecrets(e instanceof Error ? e.message : String(e))}`);
    return 1;
  } finally {
    const { closeDb } = await import("../db/index.ts");
    const { runShutdownHooks } = await import("../kernel/lifecycle.ts");
    await runShutdownHooks();
    await closeDb();
  }
}
