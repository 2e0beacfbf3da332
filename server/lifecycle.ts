// Shutdown hooks: services register what must happen before the process exits (flush the usage
// queue, close connections). The host (server/main.ts, the CLI) runs them once, in reverse order
// of registration, so that things registered later (which depend on earlier ones) close first.
type Hook = { name: string; run: () => Promise<void> | void };

const g = globalThis as unknown as { __modelServiceShutdownHooks?: Hook[]; __modelServiceShuttingDown?: Promise<void> };

function hooks(): Hook[] {
  g.__modelServiceShutdownHooks ??= [];
  return g.__modelServiceShutdownHooks;
}

/** Registers a hook; a hook of the same name replaces the earlier one (hot reloads re-register). */
export function onShutdown(name: string, run: Hook["run"]): void {
  const list = hooks();
  const i = list.findIndex((h) => h.name === name);
  if (i >= 0) list.splice(i, 1);
  list.push({ name, run });
}

/** Runs every hook once, each bounded by `timeoutMs`; a failing hook does not stop the others. */
export function runShutdownHooks(
  report: (name: string, error?: unknown) => void = () => {},
  timeoutMs = 10_000,
): Promise<void> {
  g.__modelServiceShuttingDown ??= (async () => {
    for (const hook of [...hooks()].reverse()) {
      try {
        await Promise.race([
          Promise.resolve().then(hook.run),
          new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs).unref()),
        ]);
        report(hook.name);
      } catch (e) {
        report(hook.name, e);
      }
    }
  })();
  return g.__modelServiceShuttingDown;
}

export function isShuttingDown(): boolean {
  return g.__modelServiceShuttingDown !== undefined;
}
