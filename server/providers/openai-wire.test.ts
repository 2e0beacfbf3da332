// The passthrough's body and answer edits (openai-wire.ts): only the fields it must change, the rest of the text as it was.
import { describe, expect, it } from "vitest";
import { wireChatBody, withFields, withTopLevelString, withoutTopLevelField } from "./openai-wire.ts";

const openai = { maxTokensField: "max_completion_tokens", developerRole: true } as const;
const compatible = { maxTokensField: "max_tokens", developerRole: false } as const;

describe("the passthrough's request body", () => {
  it("sets the model, keeps every other field, and moves max tokens to the provider's field", () => {
    const body = { model: "alias", messages: [{ role: "user", content: "x", x_extra: 1 }], seed: 3, max_tokens: 5, stream: false };
    expect(JSON.parse(wireChatBody({ model: "gpt-4o", body, stream: false, answerModel: "gpt-4o" }, openai))).toEqual({
      model: "gpt-4o",
      messages: [{ role: "user", content: "x", x_extra: 1 }],
      seed: 3,
      max_completion_tokens: 5,
    });
    expect(body.model).toBe("alias"); // the caller's object is not changed
    const both = { model: "m", messages: [], max_tokens: 5, max_completion_tokens: 9 };
    expect(JSON.parse(wireChatBody({ model: "m", body: both, stream: false, answerModel: "m" }, compatible))).toEqual({
      model: "m",
      messages: [],
      max_tokens: 9,
    });
  });

  it("asks a stream for its usage chunk, keeping the caller's other stream options", () => {
    const body = { model: "m", messages: [], stream: true, stream_options: { include_obfuscation: false } };
    expect(JSON.parse(wireChatBody({ model: "m", body, stream: true, answerModel: "m" }, openai))).toMatchObject({
      stream: true,
      stream_options: { include_obfuscation: false, include_usage: true },
    });
  });

  it("drops the sampling for a model that takes only the defaults, and sends developer as system where it is not known", () => {
    const body = { model: "m", temperature: 0.3, top_p: 0.5, messages: [{ role: "developer", content: "be brief" }] };
    expect(JSON.parse(wireChatBody({ model: "m", body, stream: false, dropSampling: true, answerModel: "m" }, compatible))).toEqual({
      model: "m",
      messages: [{ role: "system", content: "be brief" }],
    });
    expect(JSON.parse(wireChatBody({ model: "m", body, stream: false, answerModel: "m" }, openai)).messages[0].role).toBe("developer");
  });
});

describe("the passthrough's answer edits", () => {
  it("replaces the top-level model only, whatever the text around it", () => {
    const text =
      '{"id":"c1","choices":[{"message":{"content":"{\\"model\\":\\"x\\"}","model":"inner"}}],"model" : "gpt-4o-2024", "usage":null}';
    const out = withTopLevelString(text, "model", "gpt-4o");
    expect(JSON.parse(out)).toEqual({ ...JSON.parse(text), model: "gpt-4o" });
    expect(out.replace('"gpt-4o"', '"gpt-4o-2024"')).toBe(text);
    expect(JSON.parse(withTopLevelString('{"id":"x"}', "model", "m"))).toEqual({ id: "x", model: "m" });
  });

  it("removes a top-level field, first, middle or last", () => {
    for (const text of ['{"usage":null,"a":1}', '{"a":1,"usage":null,"b":[{"usage":2}]}', '{"a":{"usage":3},"usage":null}']) {
      const { usage: _usage, ...rest } = JSON.parse(text) as Record<string, unknown>;
      expect(JSON.parse(withoutTopLevelField(text, "usage"))).toEqual(rest);
    }
    expect(withoutTopLevelField('{"a":{"usage":3}}', "usage")).toBe('{"a":{"usage":3}}');
  });

  it("adds fields at the end of an object, empty or not", () => {
    expect(withFields('{"a":1}\n', '"b":2')).toBe('{"a":1,"b":2}\n');
    expect(withFields("{ }", '"b":2')).toBe('{ "b":2}');
  });
});
