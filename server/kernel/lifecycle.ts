// Shutdown hooks: services register what must happen before the process exits (flush the usage
// queue, close connections). The host (server/host/main.ts, the CLI) runs them once, in reverse order
// of registration, so that things registered later (which depend on earlier ones) close first.
//
// Work still running when the host's grace period ends (a long stream) is tracked apart: the host
// interrupts it (`interruptAll`) before it cuts the connections and runs the hooks, and each piece
// records what it did so far there and then, so the usage writer's final flush includes it.
type Hook = { name: string; run: () => Promise<void> | void; first: boolean };

const g = globalThis as unknown as {
  __modelServiceShutdownHooks?: Hook[];
  __modelServiceShuttingDown?: Promise<void>;
  __modelServiceInterruptible?: Set<() => void>;
};
const interruptible: Set<() => void> = (g.__modelServiceInterruptible ??= new Set());

function hooks(): Hook[] {
  g.__modelServiceShutdownHooks ??= [];
  return g.__modelServiceShutdownHooks;
}

/**
 * Registers a hook; a hook of the same name replaces the earlier one (hot reloads re-register).
 * `first`: runs before every other hook (the usage writer's final flush: what it cannot write must
 * reach the spool file early, whatever else is slow to close).
 */
export function onShutdown(name: string, run: Hook["run"], options: { first?: boolean } = {}): void {
  const list = hooks();
  const i = list.findIndex((h) => h.name === name);
  if (i >= 0) list.splice(i, 1);
  list.push({ name, run, first: options.first ?? false });
}

/** Runs every hook once, each bounded by `timeoutMs`; a failing hook does not stop the others. */
export function runShutdownHooks(report: (name: string, error?: unknown) => void = () => {}, timeoutMs = 10_000): Promise<void> {
  g.__modelServiceShuttingDown ??= (async () => {
    const reversed = [...hooks()].reverse();
    for (const hook of [...reversed.filter((h) => h.first), ...reversed.filter((h) => !h.first)]) {
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

/**
 * Tracks work that may outlive the grace period: `interrupt` must record synchronously what the
 * work has done so far (it is called once at most). Returns the function to call when the work
 * ends by itself.
 */
export function trackInterruptible(interrupt: () => void): () => void {
  interruptible.add(interrupt);
  return () => interruptible.delete(interrupt);
}

/** Interrupts every tracked piece of work (the host, once the grace period is over); returns how many there were. */
export function interruptAll(report: (error: unknown) => void = () => {}): number {
  const all = [...interruptible];
  interruptible.clear();
  for (const interrupt of all) {
    try {
      interrupt();
    } catch (e) {
      report(e);
    }
  }
  return all.length;
}
