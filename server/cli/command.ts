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
  /** Positional arguments, all required, in order (e.g. `keys revoke <id>`); their values arrive under these names. */
  args?: { name: string; description: string }[];
  run: (values: Record<string, string | boolean | undefined>, io: CliIO) => Promise<number | void>;
};

export type CliIO = {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Asks for a secret (a password): without echo at a terminal, else the first line of stdin. */
  readSecret?: (prompt: string) => Promise<string>;
};

export class UsageError extends Error {}

export function commandHelp(cmd: Command): string {
  const positional = (cmd.args ?? []).map((a) => ` <${a.name}>`).join("");
  const lines = [`Usage: npm run cli -- ${cmd.name}${positional}${cmd.options ? " [options]" : ""}`, "", cmd.summary];
  if (cmd.args?.length) {
    lines.push("", "Arguments:");
    for (const a of cmd.args) lines.push(`  ${`<${a.name}>`.padEnd(28)} ${a.description}`);
  }
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
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: Boolean(cmd.args?.length) });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nRun \`npm run cli -- ${cmd.name} --help\` for the options.`);
  }
  if (parsed.values.help) return "help";
  const expected = cmd.args ?? [];
  if (parsed.positionals.length !== expected.length) {
    const want = expected.map((a) => `<${a.name}>`).join(" ");
    throw new UsageError(
      `${parsed.positionals.length < expected.length ? `Missing ${want}` : `Unexpected argument ${JSON.stringify(parsed.positionals[expected.length])}`}. Run \`npm run cli -- ${cmd.name} --help\` for the usage.`,
    );
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  expected.forEach((a, i) => (values[a.name] = parsed.positionals[i]));
  for (const [name, o] of Object.entries(cmd.options ?? {})) {
    if (o.required && parsed.values[name] === undefined) {
      throw new UsageError(`Missing --${name}. Run \`npm run cli -- ${cmd.name} --help\` for the options.`);
    }
  }
  return values;
}
