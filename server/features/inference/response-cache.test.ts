// The response cache's key covers every generation parameter: it is built from the one list of
// them (providers/types.ts GENERATION_PARAMETERS), and this test enumerates that list, so a new
// parameter that could change the answer cannot be left out of the key.
import { describe, expect, it } from "vitest";
import type { Identity } from "../../access/identity.ts";
import { GENERATION_PARAMETERS, generationParameters, type GenerationParameters } from "../../providers/types.ts";
import { responseCacheKey } from "./response-cache.ts";
import type { GenerateInput } from "./generation.ts";

const who: Identity = { kind: "apiKey", apiKeyId: "key-1", userId: "user-1", role: "user", tier: "standard", scopes: ["generate"] };
const base: GenerateInput = { model: "gpt-4o", messages: [{ role: "user", content: "hello" }] };

// Required<>: a new parameter fails the type check here until it has a sample value.
const samples: Required<GenerationParameters> = {
  temperature: 0,
  maxTokens: 64,
  topP: 0.5,
  stop: ["END"],
  user: "end-user-7",
  thinking: { type: "enabled", budgetTokens: 2048 },
  tools: [{ name: "lookup", parameters: { type: "object", properties: {} } }],
  toolChoice: "required",
  parallelToolCalls: false,
  responseFormat: { type: "json_object" },
};

describe("the response cache key", () => {
  it("lists every parameter once, and has a sample for each", () => {
    expect(new Set(GENERATION_PARAMETERS).size).toBe(GENERATION_PARAMETERS.length);
    expect(Object.keys(samples).sort()).toEqual([...GENERATION_PARAMETERS].sort());
  });

  it.each(GENERATION_PARAMETERS)("changes with %s", (name) => {
    const without = responseCacheKey(who, base.model, base);
    const withIt = responseCacheKey(who, base.model, { ...base, [name]: samples[name] });
    expect(withIt).not.toBe(without);
    // ...also beside every other parameter.
    const all = responseCacheKey(who, base.model, { ...base, ...samples });
    expect(responseCacheKey(who, base.model, { ...base, ...samples, [name]: undefined })).not.toBe(all);
  });

  it("is the same for an absent and an undefined parameter, and ignores what is not a parameter", () => {
    const a = responseCacheKey(who, base.model, base);
    expect(responseCacheKey(who, base.model, { ...base, temperature: undefined })).toBe(a);
    expect(responseCacheKey(who, base.model, { ...base, timeoutMs: 5_000, cache: { mode: "force" } })).toBe(a);
  });

  it("changes with the caller's scope, the model, the fallbacks and the messages", () => {
    const a = responseCacheKey(who, base.model, base);
    expect(responseCacheKey({ ...who, userId: "user-2" }, base.model, base)).not.toBe(a);
    expect(responseCacheKey(who, "gpt-4o-mini", base)).not.toBe(a);
    expect(responseCacheKey(who, base.model, { ...base, fallbacks: ["gpt-4o-mini"] })).not.toBe(a);
    expect(responseCacheKey(who, base.model, { ...base, messages: [{ role: "user", content: "hi" }] })).not.toBe(a);
  });
});

describe("generationParameters", () => {
  it("picks every parameter and nothing else, leaving out absent ones", () => {
    expect(generationParameters({ ...samples, model: "x", timeoutMs: 1 } as GenerationParameters)).toEqual(samples);
    expect(Object.keys(generationParameters({ temperature: undefined, topP: 1 }))).toEqual(["topP"]);
  });
});
