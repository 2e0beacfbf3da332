import "server-only";
// The shipped model catalogue (prisma/catalogue/models.json) and the zod schema it must satisfy.
// The file is imported rather than read from disk so that every host (tsx, Next's bundles, tests)
// carries the same copy without depending on the working directory.
import { z } from "zod";
import type { EmbeddingResize } from "../../../lib/embedding-sizes.ts";
import { CAPABILITIES, MODEL_TYPES } from "../../../lib/catalogue.ts";
import { safeString } from "../../kernel/validation.ts";
import catalogueJson from "../../../prisma/catalogue/models.json" with { type: "json" };
import { parsePriceMicros } from "./pricing.ts";

// The model types and capabilities are the dashboard's too: lib/catalogue.ts spells them once.
export { CAPABILITIES, MODEL_TYPES, type Capability, type ModelType } from "../../../lib/catalogue.ts";

/** Model ids and aliases: what providers accept, and nothing that needs escaping in a URL path. */
export const modelIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/@-]*$/, "must be letters, digits and . _ : / @ - (starting with a letter or digit)");

export const providerIdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9_.-]*$/, "must be lower-case letters, digits and . _ -");

/** USD per 1M tokens: a non-negative number or decimal string with at most 6 decimals. */
export const priceSchema = z.union([z.number(), z.string()]).transform((value, ctx) => {
  try {
    return microsToText(parsePriceMicros(value));
  } catch {
    ctx.addIssue({ code: "custom", message: "must be a non-negative price in USD per 1M tokens with at most 6 decimals" });
    return z.NEVER;
  }
});

/** The short names of a price's rates, as the data file, the price JSON and models.update spell them, to the Price fields. */
export const RATE_NAMES = {
  input: "inputPerMTok",
  output: "outputPerMTok",
  cachedInput: "cachedInputPerMTok",
  cacheWrite: "cacheWritePerMTok",
  cacheWrite1h: "cacheWrite1hPerMTok",
  reasoning: "reasoningPerMTok",
  audioInput: "audioInputPerMTok",
  imageInput: "imageInputPerMTok",
} as const;
export type RateName = keyof typeof RATE_NAMES;
/** The rates beyond input and output, each optional. */
export const OPTIONAL_RATE_NAMES = ["cachedInput", "cacheWrite", "cacheWrite1h", "reasoning", "audioInput", "imageInput"] as const;

/** A service tier's name as the providers spell it: "priority", "flex", "scale". */
export const serviceTierSchema = z
  .string()
  .min(1)
  .max(32)
  .regex(/^[a-z][a-z0-9_-]*$/, "must be a lower-case service tier name such as priority or flex");

/**
 * A price tier (pricing.ts PriceTier): the rates that replace the standard ones for a whole call on
 * a service tier and/or above an input size. At least one of the two, and at least one rate.
 */
export const priceTierSchema = z
  .strictObject({
    serviceTier: serviceTierSchema.optional(),
    aboveInputTokens: z.number().int().positive().max(100_000_000).optional(),
    input: priceSchema.optional(),
    output: priceSchema.optional(),
    cachedInput: priceSchema.optional(),
    cacheWrite: priceSchema.optional(),
    cacheWrite1h: priceSchema.optional(),
    reasoning: priceSchema.optional(),
    audioInput: priceSchema.optional(),
    imageInput: priceSchema.optional(),
  })
  .superRefine((t, ctx) => {
    if (t.serviceTier === undefined && t.aboveInputTokens === undefined) {
      ctx.addIssue({ code: "custom", message: "a tier needs serviceTier, aboveInputTokens or both" });
    }
    if (!(Object.keys(RATE_NAMES) as RateName[]).some((k) => t[k] !== undefined)) {
      ctx.addIssue({ code: "custom", message: "a tier needs at least one rate (input, output, cachedInput, ...)" });
    }
  });
export type PriceTierEntry = z.output<typeof priceTierSchema>;

/** Tiers of one price: no two for the same service tier and threshold. */
export const priceTiersSchema = z
  .array(priceTierSchema)
  .max(16)
  .superRefine((tiers, ctx) => {
    const seen = new Set<string>();
    tiers.forEach((t, i) => {
      const key = `${t.serviceTier ?? ""}@${t.aboveInputTokens ?? 0}`;
      if (seen.has(key)) ctx.addIssue({ code: "custom", path: [i], message: "two tiers for the same service tier and input size" });
      seen.add(key);
    });
  });

export const catalogueEntryPriceSchema = z.strictObject({
  input: priceSchema,
  output: priceSchema,
  cachedInput: priceSchema.optional(),
  cacheWrite: priceSchema.optional(),
  cacheWrite1h: priceSchema.optional(),
  reasoning: priceSchema.optional(),
  audioInput: priceSchema.optional(),
  imageInput: priceSchema.optional(),
  tiers: priceTiersSchema.optional(),
});

export const catalogueEntrySchema = z
  .object({
    id: modelIdSchema,
    name: safeString.min(1).max(200),
    provider: providerIdSchema,
    type: z.enum(MODEL_TYPES),
    contextWindow: z.number().int().positive(),
    maxOutputTokens: z.number().int().positive().nullable(),
    price: catalogueEntryPriceSchema,
    capabilities: z.array(z.enum(CAPABILITIES)).min(1),
    aliases: z.array(modelIdSchema).optional(),
    embeddingDimensions: z.number().int().positive().optional(),
    /** The sizes an embedding model can be asked for besides its own (lib/embedding-sizes.ts). */
    resize: z
      .union([
        z.strictObject({ min: z.number().int().positive(), max: z.number().int().positive() }),
        z.strictObject({ sizes: z.array(z.number().int().positive()).min(1) }),
      ])
      .optional(),
    /** The same model under another provider's id (a Bedrock or Vertex copy of an Anthropic or Gemini model). */
    sameAs: modelIdSchema.optional(),
    /** false: the model takes only its default temperature and top_p (OpenAI's reasoning models: o-series, GPT-5). */
    sampling: z.boolean().optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.type === "embedding" && m.embeddingDimensions === undefined) {
      ctx.addIssue({ code: "custom", path: ["embeddingDimensions"], message: "an embedding model needs its dimensions" });
    }
    if (m.type === "chat" && m.embeddingDimensions !== undefined) {
      ctx.addIssue({ code: "custom", path: ["embeddingDimensions"], message: "only embedding models have dimensions" });
    }
    if (m.maxOutputTokens !== null && m.maxOutputTokens > m.contextWindow) {
      ctx.addIssue({ code: "custom", path: ["maxOutputTokens"], message: "cannot exceed the context window" });
    }
  });

export const catalogueFileSchema = z
  .object({
    _note: z.array(z.string()).optional(),
    models: z.array(catalogueEntrySchema).min(1),
  })
  .strict()
  .superRefine((file, ctx) => {
    // An id or alias names exactly one model, or resolving it would be ambiguous.
    const seen = new Map<string, string>();
    file.models.forEach((m, i) => {
      for (const [j, name] of [m.id, ...(m.aliases ?? [])].entries()) {
        const key = name.toLowerCase();
        const owner = seen.get(key);
        if (owner !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: ["models", i, j === 0 ? "id" : "aliases"],
            message: `"${name}" already names model ${owner}`,
          });
        }
        seen.set(key, m.id);
      }
    });
    file.models.forEach((m, i) => {
      if (m.sameAs !== undefined && !seen.has(m.sameAs.toLowerCase())) {
        ctx.addIssue({ code: "custom", path: ["models", i, "sameAs"], message: `"${m.sameAs}" names no model of the catalogue` });
      }
    });
  });

export type CatalogueEntry = z.output<typeof catalogueEntrySchema>;

/** Millionths of a dollar as the shortest decimal text: 2_500_000n → "2.5". */
export function microsToText(micros: bigint): string {
  const whole = micros / 1_000_000n;
  const frac = (micros % 1_000_000n).toString().padStart(6, "0").replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : `${whole}`;
}

/** A price (USD per 1M tokens) in its canonical text form, so that "2.50", 2.5 and "2.5" compare equal. */
export function normalizePrice(value: string | number): string {
  return microsToText(parsePriceMicros(value));
}

let shipped: CatalogueEntry[] | undefined;

/** The catalogue that ships with the service, validated (throws with the bad field named). */
export function shippedCatalogue(): CatalogueEntry[] {
  shipped ??= parseCatalogue(catalogueJson);
  return shipped;
}

let fixed: Set<string> | undefined;
/** Whether the shipped catalogue marks `modelId` as taking only its default temperature and top_p (`sampling: false`). */
export function samplingFixed(modelId: string): boolean {
  fixed ??= new Set(shippedCatalogue().flatMap((m) => (m.sampling === false ? [m.id.toLowerCase()] : [])));
  return fixed.has(modelId.toLowerCase());
}

let resizes: Map<string, EmbeddingResize> | undefined;
/** The sizes the shipped catalogue says `modelId` can be asked for besides its own, or null (its own only). */
export function embeddingResize(modelId: string): EmbeddingResize | null {
  resizes ??= new Map(shippedCatalogue().flatMap((m) => (m.resize ? [[m.id.toLowerCase(), m.resize] as const] : [])));
  return resizes.get(modelId.toLowerCase()) ?? null;
}

export function parseCatalogue(data: unknown): CatalogueEntry[] {
  const result = catalogueFileSchema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(`Invalid model catalogue at ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "unknown problem"}`);
  }
  return result.data.models;
}
