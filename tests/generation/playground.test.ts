// What the playground stands on, through a real server and the emulated providers: a streamed run
// names its request id first, a stopped run's cost is found by that id (the caller's own calls
// only), prompts are counted as the service counts them, and the "View code" samples are requests
// that work: the curl command run by a real shell and curl, the TypeScript sample run by Node with
// the real `openai` package, and the Python sample's arguments as Python reads them.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createModelServiceClient } from "@/client/index.ts";
import type { DatabaseHandle } from "@/server/db/index.ts";
import { parseUsd } from "@/server/features/catalogue/pricing.ts";
import { countPromptTokens } from "@/server/features/inference/tokens.ts";
import { chatCompletionsBody, requestCode, type PlaygroundRequest } from "@/components/inference/request-code.ts";
import { startProviderEmulator, type ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { createKey, emulatorEnv, NO_RATE_LIMITS, startServer, type Servers } from "@/tests/support/host.ts";

const run = promisify(execFile);
process.env.LOG_LEVEL = "silent";

let emulator: ProviderEmulator;
let server: Servers;
let db: DatabaseHandle;
let key = "";
let otherKey = "";

beforeAll(async () => {
  emulator = await startProviderEmulator();
  server = await startServer({ env: { ...NO_RATE_LIMITS, ...emulatorEnv(emulator) } });
  db = await server.openDatabase();
  key = (await createKey(db, { name: "playground" })).key;
  otherKey = (await createKey(db, { name: "someone else" })).key;
}, 180_000);

afterAll(async () => {
  await db?.close();
  await server?.dispose();
  await emulator?.close();
}, 60_000);

describe("the playground's procedures", () => {
  it("a stopped run: the stream named its request id first, and recordedRun finds what the cut call cost", async () => {
    const ms = createModelServiceClient(server.url, { apiKey: key });
    const controller = new AbortController();
    const events = await ms.generation.stream.mutate(
      {
        model: "claude-3-haiku-20240307",
        messages: [{ role: "user", content: "one two three four five six seven eight nine ten [[emulator chunk_delay=150]]" }],
      },
      { signal: controller.signal },
    );
    let requestId = "";
    let deltas = 0;
    try {
      for await (const event of events) {
        if (event.type === "start") requestId = event.requestId;
        else if (event.type === "delta" && ++deltas === 2) controller.abort();
        else if (event.type === "done") throw new Error("the run should have been stopped before it finished");
      }
    } catch (e) {
      if (!controller.signal.aborted) throw e;
    }
    expect(requestId).not.toBe("");
    expect(deltas).toBe(2);

    let recorded: Awaited<ReturnType<typeof ms.generation.recordedRun.query>> = null;
    for (let i = 0; i < 50 && !recorded; i++) {
      recorded = await ms.generation.recordedRun.query({ requestId });
      if (!recorded) await new Promise((r) => setTimeout(r, 200));
    }
    expect(recorded).not.toBeNull();
    expect(recorded!.model).toBe("claude-3-haiku-20240307");
    expect(recorded!.status).not.toBe("success");
    // Some of the answer's 12 words were paid for, not all of them.
    expect(recorded!.outputTokens).toBeGreaterThan(0);
    expect(recorded!.outputTokens).toBeLessThan(12);
    // At claude-3-haiku's $0.25 / $1.25 per 1M: 250,000 and 1,250,000 picodollars a token.
    expect(parseUsd(recorded!.cost)).toBe(BigInt(recorded!.inputTokens) * 250_000n + BigInt(recorded!.outputTokens) * 1_250_000n);

    // Another caller cannot read it.
    const other = createModelServiceClient(server.url, { apiKey: otherKey });
    expect(await other.generation.recordedRun.query({ requestId })).toBeNull();
  });

  it("a finished run's outcome carries its tool calls", async () => {
    const ms = createModelServiceClient(server.url, { apiKey: key });
    const tool = {
      name: "get_weather",
      description: "Weather for a city",
      parameters: { type: "object", properties: { city: { type: "string" } } },
    };
    const events = await ms.generation.stream.mutate({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: 'weather [[emulator tool=get_weather args={"city":"Oslo"}]]' }],
      tools: [tool],
    });
    const all = [];
    for await (const event of events) all.push(event);
    expect(all[0]!.type).toBe("start");
    const done = all.at(-1);
    expect(done?.type).toBe("done");
    expect(done?.type === "done" && done.outcome.toolCalls?.map((c) => [c.name, JSON.parse(c.arguments)])).toEqual([
      ["get_weather", { city: "Oslo" }],
    ]);
  });

  it("counts a prompt's tokens as the service does, and refuses a bad one with a 400", async () => {
    const ms = createModelServiceClient(server.url, { apiKey: key });
    const messages = [
      { role: "system" as const, content: "You are terse." },
      { role: "user" as const, content: "How many tokens is this sentence?" },
    ];
    expect(await ms.generation.promptTokens.query({ messages })).toEqual({ tokens: countPromptTokens(messages) });
    await expect(ms.generation.promptTokens.query({ messages: [] })).rejects.toMatchObject({ data: { httpStatus: 400 } });
  });
});

describe("View code: each sample is the same working request", () => {
  const request: PlaygroundRequest = {
    model: "claude-3-haiku-20240307",
    messages: [
      { role: "system", content: "Answer in one line." },
      { role: "user", content: `it's "quoted" $HOME \\ back` },
    ],
    temperature: 0.2,
    maxTokens: 50,
  };

  it("curl, run by a real shell against the server, answers the request", async () => {
    const { curl } = requestCode(server.url, request);
    const { stdout } = await run("bash", ["-c", curl], { env: { ...process.env, MODEL_SERVICE_API_KEY: key } });
    const answer = JSON.parse(stdout) as { model: string; choices: { message: { content: string } }[] };
    expect(answer.model).toBe("claude-3-haiku-20240307");
    // The emulator echoes the last user message's words: the quoting reached it intact.
    expect(answer.choices[0]!.message.content).toBe(`You said: it's "quoted" $HOME \\ back`);
  });

  it("TypeScript (openai), run by Node with the real openai package, answers the request", async () => {
    const { typescript } = requestCode(server.url, request);
    const dir = mkdtempSync(path.join(tmpdir(), "ms-snippet-"));
    try {
      symlinkSync(path.resolve("node_modules"), path.join(dir, "node_modules"), "dir");
      writeFileSync(path.join(dir, "snippet.mjs"), typescript);
      const { stdout } = await run(process.execPath, [path.join(dir, "snippet.mjs")], {
        env: { ...process.env, MODEL_SERVICE_API_KEY: key },
      });
      expect(stdout.trim()).toBe(`You said: it's "quoted" $HOME \\ back`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("Python (openai): the arguments Python reads are the chat completions body", async () => {
    const withJson: PlaygroundRequest = {
      ...request,
      tools: [{ name: "lookup", parameters: { type: "object", properties: { q: { type: "string" } }, additionalProperties: false } }],
      responseFormat: { type: "json_object" },
    };
    const { python } = requestCode("http://localhost:8003", withJson);
    const dir = mkdtempSync(path.join(tmpdir(), "ms-snippet-"));
    try {
      // A stand-in `openai` module that prints what the sample passes (Python's own parser reads it).
      writeFileSync(
        path.join(dir, "openai.py"),
        [
          "import json",
          "class _Completions:",
          "    def create(self, **kwargs):",
          "        print(json.dumps(kwargs))",
          "        raise SystemExit(0)",
          "class _Chat:",
          "    completions = _Completions()",
          "class OpenAI:",
          "    def __init__(self, base_url, api_key):",
          "        assert base_url == 'http://localhost:8003/v1' and api_key == 'k'",
          "        self.chat = _Chat()",
        ].join("\n"),
      );
      writeFileSync(path.join(dir, "sample.py"), python);
      const { stdout } = await run("python3", [path.join(dir, "sample.py")], {
        cwd: dir,
        env: { ...process.env, MODEL_SERVICE_API_KEY: "k" },
      });
      expect(JSON.parse(stdout)).toEqual(chatCompletionsBody(withJson));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
