import { describe, expect, it } from "vitest";
import { startDeadline } from "./deadline.ts";

describe("startDeadline", () => {
  it("aborts with a TimeoutError at the deadline", async () => {
    const d = startDeadline(30);
    expect(d.signal.aborted).toBe(false);
    expect(d.deadline).toBeGreaterThan(Date.now());
    await new Promise((r) => setTimeout(r, 80));
    expect(d.signal.aborted).toBe(true);
    expect((d.signal.reason as DOMException).name).toBe("TimeoutError");
  });

  it("aborts with the caller's reason when the caller aborts, also when it already has", () => {
    const caller = new AbortController();
    const d = startDeadline(60_000, caller.signal);
    caller.abort(new Error("client left"));
    expect(d.signal.aborted).toBe(true);
    expect((d.signal.reason as Error).message).toBe("client left");
    d.release();

    const early = startDeadline(60_000, caller.signal);
    expect((early.signal.reason as Error).message).toBe("client left");
    early.release();
  });

  it("does nothing more once released", async () => {
    const caller = new AbortController();
    const d = startDeadline(20, caller.signal);
    d.release();
    await new Promise((r) => setTimeout(r, 60));
    caller.abort();
    expect(d.signal.aborted).toBe(false);
  });
});
