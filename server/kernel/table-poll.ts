// Keeping an instance's copy of a small table in step with the database, on every instance: the
// table's (id, updated_at) marks are read every `intervalMs` (two seconds by default), and on a
// change (a row added, removed or updated) the whole table is reloaded by `load`. What the
// dashboard stores at run time (providers, deployments) reaches every instance this way, without
// a restart and without a message bus. A failed check keeps what was loaded and tries again.

/** The one query a poll needs. */
export type PollDatabase = { rawQuery<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> };

export class TablePoll<D extends PollDatabase = PollDatabase> {
  private signature: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly database: () => Promise<D>,
    /** A table with `id` and `updated_at` columns (a constant of the caller's, never input). */
    private readonly table: string,
    /** Reloads everything from the table (called on a change only). */
    private readonly load: (db: D) => Promise<void>,
    private readonly onError: (error: unknown) => void = () => {},
    private readonly intervalMs = 2000,
  ) {}

  /** One check now (resolves when applied). */
  check(): Promise<void> {
    this.running ??= (async () => {
      try {
        const db = await this.database();
        const marks = await db.rawQuery<{ id: string; updated_at: Date | string }>(`SELECT id, updated_at FROM ${this.table} ORDER BY id`);
        const signature = marks.map((m) => `${m.id}@${new Date(m.updated_at).getTime()}`).join(",");
        if (signature === this.signature) return;
        await this.load(db);
        this.signature = signature;
      } catch (error) {
        this.onError(error);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  start(): this {
    if (!this.timer) {
      void this.check();
      this.timer = setInterval(() => void this.check(), this.intervalMs);
      this.timer.unref();
    }
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
