// One process owns DATA_DIR. PGlite does not lock its folder, and two processes writing one
// PostgreSQL data directory corrupt it; so the first opener creates `<dataDir>/owner.lock`
// (exclusive create) and serves the database over the PostgreSQL wire protocol, and every other
// process reads the port from the lock and connects to that instead of opening the folder.
import "server-only";
import { closeSync, existsSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import path from "node:path";

export interface OwnerInfo {
  pid: number;
  /** The owner's pglite-socket port on 127.0.0.1; null while it is still opening the database. */
  port: number | null;
  startedAt: string;
}

export type OwnerLockResult =
  { role: "owner"; lock: OwnerLock } | { role: "client"; owner: OwnerInfo & { port: number }; lockPath: string };

export interface OwnerLock {
  readonly path: string;
  readonly info: OwnerInfo;
  /** Records the port other processes should connect to. */
  setPort(port: number): void;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void;
}

export class DataDirBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataDirBusyError";
  }
}

export function lockPathFor(dataDir: string): string {
  return path.join(dataDir, "owner.lock");
}

/** Locks held by this process, across Next's route bundles (each has its own module instances). */
const held: Set<string> = ((globalThis as { __modelServiceHeldLocks?: Set<string> }).__modelServiceHeldLocks ??= new Set<string>());

export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readOwner(lockPath: string): OwnerInfo | "missing" | "unreadable" {
  let text: string;
  try {
    text = readFileSync(lockPath, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "missing";
    throw e;
  }
  try {
    const v = JSON.parse(text) as Partial<OwnerInfo>;
    if (typeof v.pid !== "number") return "unreadable";
    return { pid: v.pid, port: typeof v.port === "number" ? v.port : null, startedAt: String(v.startedAt ?? "") };
  } catch {
    return "unreadable";
  }
}

function tryCreate(lockPath: string, info: OwnerInfo): boolean {
  let fd: number;
  try {
    fd = openSync(lockPath, "wx");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
  try {
    writeSync(fd, JSON.stringify(info));
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Removes a stale lock, guarded by a short-lived `owner.lock.takeover` file so that two processes
 * finding the same stale lock do not each delete the other's fresh one.
 */
function takeOver(lockPath: string, stale: OwnerInfo | "unreadable"): boolean {
  const guard = `${lockPath}.takeover`;
  try {
    // A guard left by a process that died mid-takeover is old: clear it.
    if (existsSync(guard) && Date.now() - statSync(guard).mtimeMs > 10_000) unlinkSync(guard);
  } catch {
    // raced with someone else clearing it
  }
  let fd: number;
  try {
    fd = openSync(guard, "wx");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
  closeSync(fd);
  try {
    const now = readOwner(lockPath);
    const same =
      now === "unreadable"
        ? stale === "unreadable"
        : now !== "missing" && stale !== "unreadable" && now.pid === stale.pid && now.startedAt === stale.startedAt;
    if (same) unlinkSync(lockPath);
    return same || now === "missing";
  } finally {
    unlinkSync(guard);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Takes the lock on dataDir, or finds the live owner to connect to. Waits up to `waitMs` for an
 * owner that is still opening the database (no port yet).
 */
export async function acquireOwnerLock(dataDir: string, options: { waitMs?: number } = {}): Promise<OwnerLockResult> {
  const lockPath = lockPathFor(dataDir);
  const deadline = Date.now() + (options.waitMs ?? 60_000);
  let unreadableSince: number | undefined;
  for (;;) {
    const info: OwnerInfo = { pid: process.pid, port: null, startedAt: new Date().toISOString() };
    if (tryCreate(lockPath, info)) {
      held.add(lockPath);
      return { role: "owner", lock: makeLock(lockPath, info) };
    }
    const owner = readOwner(lockPath);
    if (owner === "missing") continue;
    if (owner === "unreadable") {
      // Created but not yet written, or left half-written by a crash: give a live writer 2 s.
      unreadableSince ??= Date.now();
      if (Date.now() - unreadableSince > 2_000) takeOver(lockPath, "unreadable");
      await sleep(50);
      continue;
    }
    unreadableSince = undefined;
    // Our own pid on a lock this process does not hold: a previous run under the same pid (a
    // container restarted as PID 1) left it behind.
    const stale = !isPidAlive(owner.pid) || (owner.pid === process.pid && !held.has(lockPath));
    if (stale) {
      takeOver(lockPath, owner);
      continue;
    }
    if (owner.port !== null) return { role: "client", owner: { ...owner, port: owner.port }, lockPath };
    if (Date.now() > deadline) {
      throw new DataDirBusyError(
        `${dataDir} is owned by process ${owner.pid} (see ${lockPath}), which has not started serving its database; ` +
          `if no such server is running, delete the lock file.`,
      );
    }
    await sleep(100);
  }
}

function makeLock(lockPath: string, info: OwnerInfo): OwnerLock {
  let current = info;
  let released = false;
  const onExit = () => releaseNow();
  process.once("exit", onExit);

  function isStillOurs(): boolean {
    const now = readOwner(lockPath);
    return now !== "missing" && now !== "unreadable" && now.pid === info.pid && now.startedAt === info.startedAt;
  }
  function releaseNow(): void {
    if (released) return;
    released = true;
    process.removeListener("exit", onExit);
    held.delete(lockPath);
    try {
      if (isStillOurs()) unlinkSync(lockPath);
    } catch {
      // already gone
    }
  }
  return {
    path: lockPath,
    get info() {
      return current;
    },
    setPort(port: number) {
      current = { ...current, port };
      // Write-then-rename so that a reader never sees a half-written file.
      const tmp = `${lockPath}.${process.pid}.tmp`;
      const fd = openSync(tmp, "w");
      try {
        writeSync(fd, JSON.stringify(current));
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, lockPath);
    },
    release: releaseNow,
  };
}
