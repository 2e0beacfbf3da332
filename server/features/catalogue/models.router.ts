import "server-only";
// models.*: the catalogue for the dashboard and tRPC clients. Anyone signed in reads it; an admin
// changes a price (effective from now on), enables or disables a model, sets its fallbacks.
import { z } from "zod";
import { providerName } from "../../../lib/catalogue.ts";
import { safeString } from "../../kernel/validation.ts";
import { getProvider } from "../../providers/registry.ts";
import {
  CAPABILITIES,
  catalogueEntrySchema,
  embeddingResize,
  MODEL_TYPES,
  modelIdSchema,
  priceSchema,
  priceTiersSchema,
  providerIdSchema,
  RATE_NAMES,
  samplingFixed,
  type RateName,
} from "./catalogue-data.ts";
import { fromPriceTier } from "./catalogue-rows.ts";
import { tierLabel } from "./pricing.ts";
import type { AuthenticatedIdentity } from "../../access/auth.ts";
import { modelAllowed } from "../../access/model-access.ts";
import { AppError } from "../../kernel/errors.ts";
import {
  catalogueReady,
  createModel,
  listModels,
  modelAvailability,
  modelProviders,
  perThousandTokens,
  priceHistory,
  resolveModel,
  updateModel,
  type CatalogueModel,
  type ModelPrice,
} from "./models.ts";
import { adminProcedure, createTRPCRouter, protectedProcedure } from "../../trpc/init.ts";

/** Exact decimal strings, USD. */
const tierOutput = z.object({
  serviceTier: z.string().optional(),
  aboveInputTokens: z.number().int().optional(),
  input: z.string().optional(),
  output: z.string().optional(),
  cachedInput: z.string().optional(),
  cacheWrite: z.string().optional(),
  cacheWrite1h: z.string().optional(),
  reasoning: z.string().optional(),
  audioInput: z.string().optional(),
  imageInput: z.string().optional(),
  /** "priority", ">200K", "priority >272K" */
  label: z.string(),
});

const priceSetOutput = z.object({
  input: z.string(),
  output: z.string(),
  cachedInput: z.string().nullable(),
  cacheWrite: z.string().nullable(),
  /** Anthropic's 1-hour cache writes; null: the 5-minute write price. */
  cacheWrite1h: z.string().nullable(),
  /** null: the output price. */
  reasoning: z.string().nullable(),
  /** null: the input price. */
  audioInput: z.string().nullable(),
  imageInput: z.string().nullable(),
  /** Rates that replace these for a whole call on a service tier and/or above an input size. */
  tiers: z.array(tierOutput),
});

export const modelOutput = z.object({
  id: z.string(),
  name: z.string(),
  /** The id of the provider that serves it, and that provider's name (the configured one; the id's display name when no such provider is configured). */
  provider: z.string(),
  providerName: z.string(),
  type: z.enum(MODEL_TYPES),
  contextWindow: z.number().int(),
  maxOutputTokens: z.number().int().nullable(),
  capabilities: z.array(z.string()),
  aliases: z.array(z.string()),
  fallbacks: z.array(z.string()),
  embeddingDimensions: z.number().int().nullable(),
  /** The sizes an embedding model can make besides `embeddingDimensions` (lib/embedding-sizes.ts); null: its own only. */
  embeddingResize: z.union([z.object({ min: z.number(), max: z.number() }), z.object({ sizes: z.array(z.number()) })]).nullable(),
  /** Takes only its default temperature and top_p (OpenAI's reasoning models): clients leave them unset. */
  samplingFixed: z.boolean(),
  enabled: z.boolean(),
  /** "admin" once an admin edited it: the shipped catalogue no longer overwrites it. */
  source: z.enum(["catalogue", "admin"]),
  available: z.boolean(),
  unavailableReason: z.string().nullable(),
  pricePerMTok: priceSetOutput,
  pricePer1K: priceSetOutput,
  updatedAt: z.date(),
});

export const modelDetailOutput = modelOutput.extend({
  priceHistory: z.array(priceSetOutput.extend({ effectiveFrom: z.date(), changedBy: z.string() })),
});

export const listModelsInput = z
  .object({
    provider: providerIdSchema.optional(),
    type: z.enum(MODEL_TYPES).optional(),
    search: safeString.max(200).optional(),
    includeDisabled: z.boolean().optional(),
  })
  .optional();

export const getModelInput = z.object({ id: modelIdSchema });

export const updateModelInput = z.object({
  id: modelIdSchema,
  patch: z
    .object({
      name: safeString.trim().min(1).max(200).optional(),
      enabled: z.boolean().optional(),
      fallbacks: z.array(modelIdSchema).max(10).optional(),
      aliases: z.array(modelIdSchema).max(20).optional(),
      capabilities: z.array(z.enum(CAPABILITIES)).min(1).optional(),
      contextWindow: z.number().int().positive().max(100_000_000).optional(),
      maxOutputTokens: z.number().int().positive().max(100_000_000).nullable().optional(),
      /** USD per 1M tokens; name only the parts that change. null removes a cached/cache-write price. */
      price: z
        .object({
          input: priceSchema.optional(),
          output: priceSchema.optional(),
          cachedInput: priceSchema.nullable().optional(),
          cacheWrite: priceSchema.nullable().optional(),
          cacheWrite1h: priceSchema.nullable().optional(),
          reasoning: priceSchema.nullable().optional(),
          audioInput: priceSchema.nullable().optional(),
          imageInput: priceSchema.nullable().optional(),
          /** Every tier of the price (replacing the current ones); [] removes them. */
          tiers: priceTiersSchema.optional(),
        })
        .strict()
        .optional(),
    })
    .strict()
    .refine((p) => Object.values(p).some((v) => v !== undefined), { error: "name at least one thing to change" }),
});

/** A model the catalogue file does not list: the same fields as a catalogue entry, plus fallbacks. */
export const createModelInput = z.object({
  model: catalogueEntrySchema,
  fallbacks: z.array(modelIdSchema).max(10).optional(),
});

function priceSet(p: ModelPrice, convert: (perMTok: string) => string = (x) => x) {
  return {
    input: convert(p.inputPerMTok),
    output: convert(p.outputPerMTok),
    cachedInput: p.cachedInputPerMTok === null ? null : convert(p.cachedInputPerMTok),
    cacheWrite: p.cacheWritePerMTok === null ? null : convert(p.cacheWritePerMTok),
    cacheWrite1h: p.cacheWrite1hPerMTok == null ? null : convert(p.cacheWrite1hPerMTok),
    reasoning: p.reasoningPerMTok == null ? null : convert(p.reasoningPerMTok),
    audioInput: p.audioInputPerMTok == null ? null : convert(p.audioInputPerMTok),
    imageInput: p.imageInputPerMTok == null ? null : convert(p.imageInputPerMTok),
    tiers: (p.tiers ?? []).map((t) => {
      const stored = fromPriceTier(t);
      const out: z.infer<typeof tierOutput> = { label: tierLabel(t) };
      if (stored.serviceTier !== undefined) out.serviceTier = stored.serviceTier;
      if (stored.aboveInputTokens !== undefined) out.aboveInputTokens = stored.aboveInputTokens;
      for (const k of Object.keys(RATE_NAMES) as RateName[]) {
        const v = stored[k];
        if (v !== undefined) out[k] = convert(v);
      }
      return out;
    }),
  };
}

function toModelOutput(m: CatalogueModel): z.infer<typeof modelOutput> {
  const availability = modelAvailability(m);
  return {
    id: m.id,
    name: m.name,
    provider: m.provider,
    providerName: getProvider(m.provider)?.name ?? providerName(m.provider),
    type: m.type,
    contextWindow: m.contextWindow,
    maxOutputTokens: m.maxOutputTokens,
    capabilities: m.capabilities,
    aliases: m.aliases,
    fallbacks: m.fallbacks,
    embeddingDimensions: m.embeddingDimensions,
    embeddingResize: m.type === "embedding" ? embeddingResize(m.id) : null,
    samplingFixed: samplingFixed(m.id),
    enabled: m.enabled,
    source: m.source,
    available: availability.available,
    unavailableReason: availability.reason ?? null,
    pricePerMTok: priceSet(m.price),
    pricePer1K: priceSet(m.price, perThousandTokens),
    updatedAt: m.updatedAt,
  };
}

function toModelDetail(m: CatalogueModel): z.infer<typeof modelDetailOutput> {
  return {
    ...toModelOutput(m),
    priceHistory: priceHistory(m.id).map((h) => ({ ...priceSet(h.price), effectiveFrom: h.effectiveFrom, changedBy: h.changedBy })),
  };
}

/** Who changed a price, as recorded in model_prices.changed_by. */
function actorOf(identity: AuthenticatedIdentity): string {
  if (identity.userId) return `user:${identity.userId}`;
  if (identity.apiKeyId) return `api_key:${identity.apiKeyId}`;
  return identity.kind;
}

export const modelsRouter = createTRPCRouter({
  /** Every model (disabled ones too, unless asked otherwise), OpenAI first, then Anthropic, then others. */
  list: protectedProcedure
    .input(listModelsInput)
    .output(z.array(modelOutput))
    .query(async ({ ctx, input }) => {
      await catalogueReady();
      // A key with an allow-list sees only its models.
      return listModels(input)
        .filter((m) => modelAllowed(ctx.identity, m.id))
        .map(toModelOutput);
    }),

  /** The providers, with whether each is configured and whether an admin can add models served by it (OpenAI-compatible). */
  providers: protectedProcedure
    .input(z.void())
    .output(
      z.array(
        z.object({
          id: z.string(),
          name: z.string(),
          openAICompatible: z.boolean(),
          available: z.boolean(),
          reason: z.string().nullable(),
        }),
      ),
    )
    .query(() => modelProviders()),

  /** One model by id or alias, with its price history. */
  get: protectedProcedure
    .input(getModelInput)
    .output(modelDetailOutput)
    .query(async ({ ctx, input }) => {
      await catalogueReady();
      const model = resolveModel(input.id);
      // As GET /v1/models/{id}: a model outside the key's allow-list is not there for it.
      if (!modelAllowed(ctx.identity, model.id)) {
        throw new AppError("not_found", `The model \`${input.id}\` is not one this API key may use`, { model: input.id });
      }
      return toModelDetail(model);
    }),

  /** An admin's change; a new price holds from now on, and earlier usage keeps its cost. */
  update: adminProcedure
    .input(updateModelInput)
    .output(modelDetailOutput)
    .mutation(async ({ input, ctx }) => toModelDetail(await updateModel(input.id, input.patch, actorOf(ctx.identity), ctx.identity))),

  /** An admin adds a model, e.g. one served by an OpenAI-compatible provider. */
  create: adminProcedure
    .input(createModelInput)
    .output(modelDetailOutput)
    .mutation(async ({ input, ctx }) =>
      toModelDetail(await createModel({ ...input.model, fallbacks: input.fallbacks }, actorOf(ctx.identity), ctx.identity)),
    ),
});
