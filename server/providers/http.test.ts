import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProviderEmulator, type ProviderEmulator } from "../../tests/emulators/provider-emulator.ts";
import { createDispatcher, createFetch, getProviderFetch } from "./http.ts";
import { createOpenAIProvider } from "./openai.ts";

let emu: ProviderEmulator;
beforeAll(async () => {
  emu = await startProviderEmulator();
});
afterAll(() => emu.close());

describe("provider HTTP client", () => {
  it("is one process-wide fetch", () => {
    expect(getProviderFetch()).toBe(getProviderFetch());
  });

  it("keeps connections alive across SDK calls", async () => {
    emu.reset();
    const openai = createOpenAIProvider({ apiKey: emu.openaiKey!, baseURL: emu.openaiBaseUrl });
    for (let i = 0; i < 6; i++) await openai.generateText({ model: "gpt-4o", messages: [{ role: "user", content: `call ${i}` }] });
    const ports = new Set(emu.requests.map((r) => r.remotePort));
    expect(emu.requests).toHaveLength(6);
    // undici may open a second socket while the first is being released; it then reuses both.
    expect(ports.size).toBeLessThanOrEqual(2);
  });

  it("applies the headers timeout of its dispatcher", async () => {
    const agent = createDispatcher({ headersTimeoutMs: 100 });
    try {
      const fetch = createFetch(agent);
      const started = Date.now();
      const error = await fetch(`${emu.openaiBaseUrl}/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${emu.openaiKey}`, "content-type": "application/json", "x-emulator": "delay=2000" },
        body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "x" }] }),
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TypeError);
      expect(((error as TypeError).cause as { code?: string }).code).toBe("UND_ERR_HEADERS_TIMEOUT");
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      await agent.close();
    }
  });

  it("hands an event stream on chunk by chunk, and a JSON answer whole", async () => {
    const fetch = getProviderFetch();
    const headers = { authorization: `Bearer ${emu.openaiKey}`, "content-type": "application/json" };
    const stream = await fetch(`${emu.openaiBaseUrl}/chat/completions`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        model: "gpt-4o",
        stream: true,
        messages: [{ role: "user", content: "one two three [[emulator chunk_delay=150]]" }],
      }),
    });
    expect(stream.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = stream.body!.getReader();
    const started = Date.now();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toMatch(/^data: /);
    expect(Date.now() - started).toBeLessThan(300); // the first chunk, long before the last
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    expect(rest).toContain("data: [DONE]");

    const plain = await fetch(`${emu.openaiBaseUrl}/chat/completions`, {
      method: "POST",
      headers,
      body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hello" }] }),
    });
    expect(plain.status).toBe(200);
    expect(plain.headers.get("content-type")).toMatch(/json/);
    expect(((await plain.json()) as { object: string }).object).toBe("chat.completion");
  });

  it("rejects with the signal's reason when aborted, before the answer or mid-stream", async () => {
    const fetch = getProviderFetch();
    const headers = { authorization: `Bearer ${emu.openaiKey}`, "content-type": "application/json", "x-emulator": "delay=2000" };
    const before = new AbortController();
    setTimeout(() => before.abort(), 50);
    const early = await fetch(`${emu.openaiBaseUrl}/chat/completions`, {
      method: "POST",
      headers,
      body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "x" }] }),
      signal: before.signal,
    }).catch((e: unknown) => e);
    expect((early as DOMException).name).toBe("AbortError");

    const mid = new AbortController();
    const res = await fetch(`${emu.openaiBaseUrl}/chat/completions`, {
      method: "POST",
      headers: { ...headers, "x-emulator": "chunk_delay=200" },
      body: JSON.stringify({ model: "gpt-4o", stream: true, messages: [{ role: "user", content: "a b c d e f" }] }),
      signal: mid.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    mid.abort();
    const error = await (async () => {
      for (;;) if ((await reader.read()).done) return undefined;
    })().catch((e: unknown) => e);
    expect(error).toBeDefined();
  });

  it("rejects a connection failure as fetch does: TypeError with the cause", async () => {
    const error = await getProviderFetch()("http://127.0.0.1:9/v1/models").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as TypeError).message).toBe("fetch failed");
    expect(((error as TypeError).cause as { code?: string }).code).toBe("ECONNREFUSED");
  });
});
