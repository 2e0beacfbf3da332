// "View code" of the playground: the request it is about to send, as the same call through curl,
// Python's `openai`, TypeScript's `openai` and our typed client. The first three speak the
// OpenAI-compatible endpoint (/v1/chat/completions), the typed client the tRPC procedure the
// playground itself calls; all four send the same model, messages and parameters.

export type PlaygroundRequest = {
  model: string;
  messages: { role: "system" | "user" | "assistant"; content: string }[];
  temperature?: number;
  maxTokens?: number;
  tools?: { name: string; description?: string; parameters: Record<string, unknown> }[];
  responseFormat?: { type: "text" } | { type: "json_object" } | { type: "json_schema"; name: string; schema: Record<string, unknown> };
};

export type CodeSamples = { curl: string; python: string; typescript: string; client: string };

/** The body of POST /v1/chat/completions for the request (OpenAI's spelling). */
export function chatCompletionsBody(r: PlaygroundRequest): Record<string, unknown> {
  const body: Record<string, unknown> = { model: r.model, messages: r.messages };
  if (r.temperature !== undefined) body.temperature = r.temperature;
  if (r.maxTokens !== undefined) body.max_tokens = r.maxTokens;
  if (r.tools?.length) {
    body.tools = r.tools.map((t) => ({
      type: "function",
      function: { name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.parameters },
    }));
  }
  if (r.responseFormat && r.responseFormat.type !== "text") {
    body.response_format =
      r.responseFormat.type === "json_schema"
        ? { type: "json_schema", json_schema: { name: r.responseFormat.name, schema: r.responseFormat.schema } }
        : { type: "json_object" };
  }
  return body;
}

/** Indents every line after the first by `spaces`. */
function indentTail(text: string, spaces: number): string {
  return text.replaceAll("\n", `\n${" ".repeat(spaces)}`);
}

/** A JSON value as a Python literal (true/false/null spelled as Python spells them). */
function pythonLiteral(value: unknown, indent = 0): string {
  const pad = " ".repeat(indent + 4);
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number" || typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => pad + pythonLiteral(v, indent + 4)).join(",\n")},\n${" ".repeat(indent)}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return "{}";
  return `{\n${entries.map(([k, v]) => `${pad}${JSON.stringify(k)}: ${pythonLiteral(v, indent + 4)}`).join(",\n")},\n${" ".repeat(indent)}}`;
}

/** Single-quoted for a POSIX shell: every ' becomes '\''. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

export function requestCode(origin: string, r: PlaygroundRequest): CodeSamples {
  const body = chatCompletionsBody(r);
  const json = JSON.stringify(body, null, 2);
  const { model: _model, ...rest } = body;

  const curl = [
    `curl ${origin}/v1/chat/completions \\`,
    `  -H "Authorization: Bearer $MODEL_SERVICE_API_KEY" \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -d ${indentTail(shellQuote(json), 2)}`,
  ].join("\n");

  const pyArgs = Object.entries(rest)
    .map(([k, v]) => `    ${k}=${pythonLiteral(v, 4)},`)
    .join("\n");
  const python = [
    "import os",
    "from openai import OpenAI",
    "",
    `client = OpenAI(base_url="${origin}/v1", api_key=os.environ["MODEL_SERVICE_API_KEY"])`,
    "completion = client.chat.completions.create(",
    `    model=${JSON.stringify(r.model)},`,
    pyArgs,
    ")",
    "print(completion.choices[0].message.content)",
  ].join("\n");

  const typescript = [
    'import OpenAI from "openai";',
    "",
    `const client = new OpenAI({ baseURL: "${origin}/v1", apiKey: process.env.MODEL_SERVICE_API_KEY });`,
    `const completion = await client.chat.completions.create(${indentTail(json, 0)});`,
    "console.log(completion.choices[0].message.content);",
  ].join("\n");

  const input: Record<string, unknown> = { model: r.model, messages: r.messages };
  if (r.temperature !== undefined) input.temperature = r.temperature;
  if (r.maxTokens !== undefined) input.maxTokens = r.maxTokens;
  if (r.tools?.length) input.tools = r.tools;
  if (r.responseFormat && r.responseFormat.type !== "text") input.responseFormat = r.responseFormat;
  const client = [
    'import { createModelServiceClient } from "model-service/client";',
    "",
    `const ms = createModelServiceClient("${origin}", { apiKey: process.env.MODEL_SERVICE_API_KEY! });`,
    `const out = await ms.generation.generate.mutate(${JSON.stringify(input, null, 2)});`,
    "console.log(out.text, out.usage, out.cost.total);",
  ].join("\n");

  return { curl, python, typescript, client };
}
