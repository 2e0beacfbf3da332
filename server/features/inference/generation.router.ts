import "server-only";
import { z } from "zod";
import { safeString } from "../../kernel/validation.ts";
import { generate, generateStream, type GenerateInput } from "./generation.ts";
import { cacheRequestFrom } from "../../web/cache-directives.ts";
import { formatUsd } from "../catalogue/index.ts";
import { recordedCall } from "../usage/index.ts";
import { createTRPCRouter, procedure } from "../../trpc/init.ts";
import { GENERATE_POLICY, PROMPT_TOKENS_POLICY, RUN_READ_POLICY } from "./policies.ts";
import { countPromptTokens, countTextTokens } from "./tokens.ts";
import { attributionInput, attributionOf, type Attribution } from "../usage/index.ts";

/** Paid calls: the same scope and rate limit as POST /v1/llm/generate. */
const generateProcedure = procedure(GENERATE_POLICY);

const functionName = safeString.regex(/^[a-zA-Z0-9_-]{1,64}$/, { error: "a function name is 1 to 64 letters, digits, _ or -" });
const jsonSchema = z.record(safeString, z.unknown());

const messagesInput = z
  .array(z.object({ role: z.enum(["system", "user", "assistant"]), content: safeString }))
  .min(1)
  .max(200);

const generateInput = z.object({
  model: safeString.min(1),
  messages: messagesInput,
  temperature: z.number().min(0).max(2).optional(),
  maxTokens: z.number().int().positive().optional(),
  topP: z.number().min(0).max(1).optional(),
  stop: z.array(safeString).max(4).optional(),
  fallbacks: z.array(safeString.min(1)).max(5).optional(),
  /** The response cache: true (temperature 0), "force" (any temperature) or false; default: the key's setting. */
  cache: z.union([z.boolean(), z.literal("force")]).optional(),
  /** Seconds a new cache entry lives (1 to RESPONSE_CACHE_MAX_TTL). */
  cacheTtlSeconds: z.number().int().positive().optional(),
  /** Functions the model may call (their parameters a JSON schema). */
  tools: z
    .array(z.object({ name: functionName, description: safeString.max(1024).optional(), parameters: jsonSchema }))
    .max(32)
    .optional(),
  /** JSON mode: any JSON object, or JSON matching a schema. */
  responseFormat: z
    .union([
      z.object({ type: z.literal("text") }),
      z.object({ type: z.literal("json_object") }),
      z.object({ type: z.literal("json_schema"), name: functionName, schema: jsonSchema, strict: z.boolean().optional() }),
    ])
    .optional(),
  /** Tags, end user, session and metadata stored on the usage event (features/usage/attribution.ts). */
  attribution: attributionInput.optional(),
});

const outcomeOutput = z.object({
  id: z.string(),
  model: z.string(),
  provider: z.string(),
  text: z.string(),
  finishReason: z.string(),
  toolCalls: z.array(z.object({ id: z.string(), name: z.string(), arguments: z.string() })).optional(),
  usage: z.object({ inputTokens: z.number(), outputTokens: z.number(), cachedInputTokens: z.number(), reasoningTokens: z.number() }),
  /** Exact decimal strings in USD. */
  cost: z.object({ input: z.string(), output: z.string(), total: z.string() }),
  latencyMs: z.number(),
  ttftMs: z.number().optional(),
  /** hit | miss | bypass when the response cache was asked for. */
  cache: z.enum(["hit", "miss", "bypass"]).optional(),
  /** A cache hit: what the answer would have cost (exact decimal string in USD). */
  savedCost: z.string().optional(),
});

type Outcome = Awaited<ReturnType<typeof generate>>;

function toOutput(o: Outcome): z.infer<typeof outcomeOutput> {
  return {
    ...o,
    cost: { input: formatUsd(o.cost.inputCost), output: formatUsd(o.cost.outputCost), total: formatUsd(o.cost.totalCost) },
    savedCost: o.savedCost === undefined ? undefined : formatUsd(o.savedCost),
  };
}

type Input = z.infer<typeof generateInput>;

/** The service's input: the cache fields as a cache request (validated: mode, TTL bounds). */
function toInput({ cache, cacheTtlSeconds, attribution: _attribution, ...rest }: Input): GenerateInput {
  const request =
    cache === undefined && cacheTtlSeconds === undefined ? undefined : cacheRequestFrom(undefined, { cache, ttlSeconds: cacheTtlSeconds });
  return { ...rest, ...(request ? { cache: request } : {}) };
}

const attributionOfInput = (input: Input): Attribution => attributionOf(input.attribution);

export const generationRouter = createTRPCRouter({
  /** One plain generation. */
  generate: generateProcedure
    .input(generateInput)
    .output(outcomeOutput)
    .mutation(async ({ input, ctx, signal }) =>
      toOutput(
        await generate(toInput(input), {
          identity: ctx.identity,
          endpoint: "trpc:generation.generate",
          requestId: ctx.requestId,
          signal,
          attribution: attributionOfInput(input),
        }),
      ),
    ),

  /**
   * A streamed generation for the playground: its request id first (to find what a stopped run
   * cost: `recordedRun`), then text deltas, then the outcome with usage and cost.
   */
  stream: generateProcedure.input(generateInput).mutation(async function* ({ input, ctx, signal }) {
    yield { type: "start" as const, requestId: ctx.requestId };
    const events = generateStream(toInput(input), {
      identity: ctx.identity,
      endpoint: "trpc:generation.stream",
      requestId: ctx.requestId,
      signal,
      attribution: attributionOfInput(input),
    });
    for await (const event of events) {
      if (event.type === "delta") yield { type: "delta" as const, text: event.text };
      else if (event.type === "done") yield { type: "done" as const, outcome: toOutput(event.outcome) };
    }
  }),

  /** The tokens of a prompt as the service counts them (o200k_base; an estimate for other tokenizers). */
  promptTokens: procedure(PROMPT_TOKENS_POLICY)
    .input(z.object({ messages: messagesInput, tools: z.array(z.unknown()).max(32).optional() }))
    .output(z.object({ tokens: z.number() }))
    .query(({ input }) => ({
      tokens: countPromptTokens(input.messages) + (input.tools?.length ? countTextTokens(JSON.stringify(input.tools)) : 0),
    })),

  /** What a call of the caller's cost, as recorded (a stopped run: the tokens so far); null until it is written. */
  recordedRun: procedure(RUN_READ_POLICY)
    .input(z.object({ requestId: safeString.min(1).max(200) }))
    .output(
      z
        .object({
          model: z.string(),
          provider: z.string(),
          status: z.string(),
          inputTokens: z.number(),
          outputTokens: z.number(),
          /** USD, exact. */
          cost: z.string(),
          latencyMs: z.number(),
          ttftMs: z.number().nullable(),
        })
        .nullable(),
    )
    .query(async ({ input, ctx }) => {
      const call = await recordedCall(ctx.identity, input.requestId);
      return call ? { ...call, cost: formatUsd(call.cost) } : null;
    }),
});
