import "server-only";
// The catalogue with the configuration file's (model-service.yaml) models section applied.
import { ConfigFileError, type ConfigFile } from "../../providers/config/config-file.ts";
import { currentConfigFile } from "../../providers/registry.ts";
import { normalizePrice, shippedCatalogue, type CatalogueEntry } from "./catalogue-data.ts";

const priceText = (v: string | number) => normalizePrice(v);

/**
 * The catalogue with the file's models section applied: a catalogue model it names is served by
 * the provider it says (keeping its catalogue price unless the entry gives one); a model the
 * catalogue lacks is added, which needs its type and price. Throws a ConfigFileError otherwise.
 * Of several entries of one model (its deployments), the first is the one applied here.
 */
export function catalogueWithConfig(entries: CatalogueEntry[], config: ConfigFile | undefined): CatalogueEntry[] {
  if (!config || config.models.length === 0) return entries;
  const out = entries.map((e) => ({ ...e }));
  const index = new Map<string, number>();
  out.forEach((e, i) => {
    for (const n of [e.id, ...(e.aliases ?? [])]) index.set(n.toLowerCase(), i);
  });
  const applied = new Set<number>();
  for (const [i, m] of config.models.entries()) {
    const price = m.price && {
      input: priceText(m.price.input),
      output: priceText(m.price.output),
      ...(m.price.cached_input !== undefined ? { cachedInput: priceText(m.price.cached_input) } : {}),
    };
    const at = index.get(m.model.toLowerCase());
    if (at !== undefined) {
      const e = out[at]!;
      if (m.type && m.type !== e.type)
        throw new ConfigFileError(config.path, `models[${i}].type: ${m.model} is a ${e.type} model in the catalogue`);
      // A model's further entries are more deployments of it (features/routing): the first one says
      // what the catalogue shows; each deployment's own price is used for the calls it answers.
      if (applied.has(at)) continue;
      applied.add(at);
      out[at] = {
        ...e,
        provider: m.provider,
        ...(price ? { price } : {}),
        ...(m.context_window ? { contextWindow: m.context_window } : {}),
      };
      continue;
    }
    if (!m.type || !price)
      throw new ConfigFileError(config.path, `models[${i}]: ${m.model} is not in the catalogue, so it needs a type and a price`);
    if (m.type === "embedding" && !m.dimensions)
      throw new ConfigFileError(config.path, `models[${i}]: the embedding model ${m.model} needs its dimensions`);
    const contextWindow = m.context_window ?? 8192;
    index.set(m.model.toLowerCase(), out.length);
    applied.add(out.length);
    out.push({
      id: m.model,
      name: m.model,
      provider: m.provider,
      type: m.type,
      contextWindow,
      maxOutputTokens: m.type === "chat" ? Math.min(m.max_output_tokens ?? 4096, contextWindow) : null,
      price,
      capabilities: m.type === "chat" ? ["text-generation"] : ["embeddings"],
      ...(m.type === "embedding" ? { embeddingDimensions: m.dimensions! } : {}),
    });
  }
  return out;
}

/** The shipped catalogue with the configuration file's models section applied (read when the catalogue loads). */
export function configuredCatalogue(): CatalogueEntry[] {
  return catalogueWithConfig(shippedCatalogue(), currentConfigFile());
}
