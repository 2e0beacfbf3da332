import { Writable } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createLogger, lazyChild } from "./logger.ts";

const g = globalThis as unknown as { __modelServiceLogger?: unknown };

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger(destination);
  g.__modelServiceLogger = logger;
  return { logger, lines };
}

afterEach(() => {
  g.__modelServiceLogger = undefined;
});

describe("lazyChild", () => {
  it("makes the child only when something is logged, with its bindings and the redaction of the parent", async () => {
    const { logger, lines } = capture();
    const child = vi.spyOn(logger, "child");
    const log = lazyChild({ requestId: "req-1" });
    expect(child).not.toHaveBeenCalled();
    log.warn({ code: "x", apiKey: "sk-abcdefghijklmnop" }, "request failed");
    log.info("again");
    expect(child).toHaveBeenCalledTimes(1);
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ requestId: "req-1", code: "x", apiKey: "[redacted]", msg: "request failed", level: "warn" });
    expect(lines[1]).toMatchObject({ requestId: "req-1", msg: "again" });
  });

  it("answers like the logger it stands for (level, child loggers)", async () => {
    const { lines } = capture();
    const log = lazyChild({ requestId: "req-2" });
    expect(log.isLevelEnabled("info")).toBe(true);
    log.child({ component: "c" }).error("inner");
    await new Promise((r) => setImmediate(r));
    expect(lines[0]).toMatchObject({ requestId: "req-2", component: "c", msg: "inner", level: "error" });
  });
});
