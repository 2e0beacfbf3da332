import { describe, expect, it } from "vitest";
import { IterableResponse } from "./iterable-response.ts";

const enc = new TextEncoder();
function source(log: string[]): AsyncGenerator<Uint8Array, void, undefined> {
  return (async function* () {
    try {
      for (const part of ["a", "b", "c"]) {
        log.push(`yield ${part}`);
        yield enc.encode(part);
      }
    } finally {
      log.push("finally");
    }
  })();
}

describe("IterableResponse", () => {
  it("is a Response whose .body streams the chunks (as Next reads it)", async () => {
    const log: string[] = [];
    const r = new IterableResponse(source(log), { status: 200, headers: { "content-type": "text/event-stream" } });
    expect(r).toBeInstanceOf(Response);
    expect(r.headers.get("content-type")).toBe("text/event-stream");
    expect(r.bodyUsed).toBe(false);
    expect(await new Response(r.body).text()).toBe("abc");
    expect(log).toEqual(["yield a", "yield b", "yield c", "finally"]);
    expect(() => r.takeChunks()).toThrow(TypeError);
  });

  it("hands its chunks to a host once; stopping early runs the source's clean-up", async () => {
    const log: string[] = [];
    const r = new IterableResponse(source(log));
    const chunks = r.takeChunks();
    expect(r.bodyUsed).toBe(true);
    expect(() => r.takeChunks()).toThrow(TypeError);
    expect(new TextDecoder().decode((await chunks.next()).value!)).toBe("a");
    await chunks.return(undefined);
    expect(log).toEqual(["yield a", "finally"]);
  });

  it("cancelling its stream stops the source", async () => {
    const log: string[] = [];
    const reader = new IterableResponse(source(log)).body!.getReader();
    await reader.read();
    await reader.cancel();
    expect(log).toEqual(["yield a", "finally"]);
  });
});
