import "server-only";
// CLI commands for usage: demo data for a new installation.
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";

export const usageCommands: Command[] = [
  {
    name: "seed-demo",
    summary:
      "Write days of realistic demo usage (several OpenAI and Anthropic models, three demo keys, streams, embeddings, cached tokens, errors, a weekday pattern) for a dashboard account, through the same batched writer as real calls. Running it again adds nothing for days already written.",
    options: {
      days: { type: "string", placeholder: "N", description: "Days back from today, today included (default 90, at most 731)" },
      user: { type: "string", placeholder: "EMAIL", description: "The account the usage belongs to (default: the oldest admin)" },
      "per-day": { type: "string", placeholder: "N", description: "Calls on an average weekday (default 300)" },
    },
    async run(v, io) {
      const whole = (name: string, max: number) => {
        const text = v[name];
        if (text === undefined) return undefined;
        const n = Number(text);
        if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`--${name} must be a whole number from 1 to ${max}`);
        return n;
      };
      const { seedDemoUsage } = await import("../features/system/demo-usage.ts");
      const { AppError } = await import("../kernel/errors.ts");
      const started = performance.now();
      try {
        const r = await seedDemoUsage({
          days: whole("days", 731),
          perDay: whole("per-day", 100_000),
          userEmail: typeof v.user === "string" ? v.user : undefined,
        });
        const seconds = ((performance.now() - started) / 1000).toFixed(1);
        io.out(
          `Wrote ${r.inserted} of ${r.events} demo events (${r.from} to ${r.to}) for ${r.user} in ${seconds} s, with the keys ${r.keys.map((k) => `"${k}"`).join(", ")}.`,
        );
        if (r.inserted < r.events)
          io.out(`${r.events - r.inserted} events were already there from an earlier run and were not counted again.`);
      } catch (e) {
        if (e instanceof AppError && e.status < 500) throw new UsageError(e.message);
        throw e;
      }
    },
  },
];
