// A tiny command framework for `npm run cli -- <command> [sub-command] [options]`: each command
// declares its options, so `--help` is generated and unknown options are refused with a message.
import { parseArgs, type ParseArgsConfig } from "node:util";

export type OptionSpec = {
  type: "string" | "boolean";
  description: string;
  /** Shown in help: `--name <N>` */
  placeholder?: string;
  required?: boolean;
};

export type Command = {
  /** e.g. "db migrate" */
  name: string;
  summary: string;
  options?: Record<string, OptionSpec>;
  run: (values: Record<string, string | boolean | undefined>, io: CliIO) => Promise<number | void>;
};

export type CliIO = { out: (line: string) => void; err: (line: string) => void };

export class UsageError extends Error {}

export function commandHelp(cmd: Command): string {
  const lines = [`Usage: npm run cli -- ${cmd.name}${cmd.options ? " [options]" : ""}`, "", cmd.summary];
  const opts = Object.entries(cmd.options ?? {});
  lines.push("", "Options:");
  for (const [name, o] of opts) {
    const flag = `--${name}${o.type === "string" ? ` <${o.placeholder ?? "value"}>` : ""}`;
    lines.push(`  ${flag.padEnd(28)} ${o.description}${o.required ? " (required)" : ""}`);
  }
  lines.push(`  ${"--help".padEnd(28)} Show this help`);
  return lines.join("\n");
}

export function parseCommandArgs(cmd: Command, argv: string[]): Record<string, string | boolean | undefined> | "help" {
  const options: NonNullable<ParseArgsConfig["options"]> = { help: { type: "boolean", short: "h" } };
  for (const [name, o] of Object.entries(cmd.options ?? {})) options[name] = { type: o.type };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nRun \`npm run cli -- ${cmd.name} --help\` for the options.`);
  }
  if (parsed.values.help) return "help";
  for (const [name, o] of Object.entries(cmd.options ?? {})) {
    if (o.required && parsed.values[name] === undefined) {
      throw new UsageError(`Missing --${name}. Run \`npm run cli -- ${cmd.name} --help\` for the options.`);
    }
  }
  return parsed.values as Record<string, string | boolean | undefined>;
}
