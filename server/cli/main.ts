// Entry point of `npm run cli -- <command> [options]`. Log lines go to stderr: stdout carries only
// what a command prints (one JSON document with --json).
import { createInterface } from "node:readline";
import { sendLogsToStderr } from "../kernel/logger.ts";
import { runCli } from "./index.ts";

sendLogsToStderr();

/** A secret typed at the terminal without echo, or the first line of a piped stdin. */
function readSecret(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const rl = createInterface({ input: stdin });
    return new Promise((resolve) => {
      let line: string | undefined;
      rl.once("line", (l) => ((line = l), rl.close()));
      rl.once("close", () => resolve(line ?? ""));
    });
  }
  process.stderr.write(prompt);
  const rl = createInterface({ input: stdin, output: undefined, terminal: true });
  return new Promise((resolve) => {
    rl.once("line", (line) => {
      process.stderr.write("\n");
      rl.close();
      resolve(line);
    });
  });
}

const code = await runCli(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  readSecret,
});
process.exit(code);
