import "server-only";
import { z } from "zod";
import { safeString } from "../../kernel/validation.ts";
import { generate, generateStream, type GenerateInput } from "./generation.ts";
import { cacheRequestFrom } from "../../web/cache-directives.ts";
import { formatUsd } from "../catalogue/index.ts";
import { createTRPCRouter, procedure } from "../../trpc/init.ts";
import { GENERATE_POLICY } from "./policies.ts";
import { attributionInput, attributionOf, type Attribution } from "../usage/index.ts";

/** Paid calls: the same scope and rate limit as POST /v1/llm/generate. */
const generateProcedure = procedure(GENERATE_POLICY);

const generateInput = z.object({
  model: safeString.min(1),
  messages: z.array(z.object({ role: z.enum(["system", "user", "assistant"]), content: safeString })).min(1),
  temperature: z.number().min(0).max(2).optional(),
  maxTokens: z.number().int().positive().optional(),
  topP: z.number().min(0).max(1).optional(),
  stop: z.array(safeString).max(4).optional(),
  fallbacks: z.array(safeString.min(1)).max(5).optional(),
  /** The response cache: true (temperature 0), "force" (any temperature) or false; default: the key's setting. */
  cache: z.union([z.boolean(), z.literal("force")]).optional(),
  /** Seconds a new cache entry lives (1 to RESPONSE_CACHE_MAX_TTL). */
  cacheTtlSeconds: z.number().int().positive().optional(),
  /** Tags, end user, session and metadata stored on the usage event (features/usage/attribution.ts). */
  attribution: attributionInput.optional(),
});

const outcomeOutput = z.object({
  id: z.string(),
  model: z.string(),
  provider: z.string(),
  text: z.string(),
  finishReason: z.string(),
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

  /** A streamed generation for the playground: text deltas, then the outcome with usage and cost. */
  stream: generateProcedure.input(generateInput).mutation(async function* ({ input, ctx, signal }) {
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
});
