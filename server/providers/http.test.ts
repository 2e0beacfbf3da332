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
});
