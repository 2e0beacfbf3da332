import { describe, expect, it } from "vitest";
import { BufferedResponse } from "./buffered-response.ts";

const init = { status: 201, statusText: "Created", headers: { "content-type": "application/json" } };

describe("BufferedResponse", () => {
  it("is a Response with its status and headers, and reads as text, JSON and bytes", async () => {
    const r = new BufferedResponse('{"a":1,"b":"é"}', init);
    expect(r).toBeInstanceOf(Response);
    expect(r.status).toBe(201);
    expect(r.ok).toBe(true);
    expect(r.statusText).toBe("Created");
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(await r.clone().json()).toEqual({ a: 1, b: "é" });
    expect(new TextDecoder().decode(await r.clone().arrayBuffer())).toBe('{"a":1,"b":"é"}');
    expect(Array.from(await r.clone().bytes())).toEqual(Array.from(new TextEncoder().encode('{"a":1,"b":"é"}')));
    expect(await (await r.clone().blob()).text()).toBe('{"a":1,"b":"é"}');
    expect(await r.text()).toBe('{"a":1,"b":"é"}');
  });

  it("streams its body when asked for .body, and can be re-wrapped as Next does", async () => {
    const bytes = new TextEncoder().encode("hello stream");
    const r = new BufferedResponse(bytes, init);
    const copy = new Response(r.body, r);
    expect(copy.status).toBe(201);
    expect(await copy.text()).toBe("hello stream");
  });

  it("is read once, like any Response body", async () => {
    const r = new BufferedResponse("once", init);
    expect(r.bodyUsed).toBe(false);
    expect(await r.text()).toBe("once");
    expect(r.bodyUsed).toBe(true);
    await expect(r.text()).rejects.toThrow(TypeError);
    expect(() => r.clone()).toThrow(TypeError);
    const s = new BufferedResponse("payload", init);
    expect(s.takePayload()).toBe("payload");
    await expect(s.json()).rejects.toThrow(TypeError);
  });

  it("rejects invalid JSON as Response.json does", async () => {
    await expect(new BufferedResponse("{not json", init).json()).rejects.toThrow(SyntaxError);
  });
});
