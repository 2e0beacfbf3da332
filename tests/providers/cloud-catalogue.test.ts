// The cloud providers' catalogue entries: every price is exactly the list price of
// cloud-model-prices.md (the shared copy when this checkout sits next to it, else the fixture),
// every `sameAs` names the same model, and the families the issue asks for are there.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { normalizePrice, shippedCatalogue, type CatalogueEntry } from "../../server/features/catalogue/catalogue-data.ts";

type Row = {
  input: string;
  output: string | null;
  cachedInput: string | null;
  cacheWrite: string | null;
  context: number;
  maxOutput: number | null;
};

function priceListText(): string {
  const shared = path.resolve("../shared/cloud-model-prices.md");
  return readFileSync(existsSync(shared) ? shared : path.resolve("tests/fixtures/cloud-model-prices.md"), "utf8");
}

/** The tables' rows by model id: the first number of each cell ("0.3 (>200K: 0.6)" is 0.3, "—" none). */
function parseRows(text: string): Map<string, Row> {
  const rows = new Map<string, Row>();
  const cell = (c: string | undefined) => {
    const v = c?.trim().split(" ")[0];
    return !v || v === "—" ? null : normalizePrice(v);
  };
  for (const line of text.split("\n")) {
    const cells = line.split("|").slice(1, -1);
    const id = /^\s*`([^`]+)`/.exec(cells[0] ?? "")?.[1];
    if (!id || cells.length < 10) continue;
    rows.set(id, {
      input: cell(cells[2])!,
      output: cell(cells[3]),
      cachedInput: cell(cells[4]),
      cacheWrite: cell(cells[5]),
      context: Number(cells[8]!.trim()),
      maxOutput: cells[9]!.trim() === "—" ? null : Number(cells[9]!.trim()),
    });
  }
  return rows;
}

const CLOUD = new Set(["azure-openai", "bedrock", "gemini", "vertex"]);
const models = shippedCatalogue();
const byId = new Map(models.map((m) => [m.id, m]));
const cloud = models.filter((m) => CLOUD.has(m.provider));
const rows = parseRows(priceListText());

/** The price list's id for one of our entries (Vertex's Gemini chat models are priced as the Gemini API's, section 2a). */
function rowId(m: CatalogueEntry): string {
  if (m.provider === "gemini") return `gemini/${m.id}`;
  if (m.provider === "vertex") return m.type === "chat" ? `gemini/${m.id.slice("vertex/".length)}` : m.id.slice("vertex/".length);
  return m.id;
}

describe("the cloud providers' catalogue", () => {
  it("carries the current Gemini models and embeddings on both Google backends, Bedrock's families and Azure's", () => {
    const required = [
      "gemini-2.5-pro",
      "gemini-2.5-flash",
      "gemini-2.5-flash-lite",
      "gemini-3.1-pro-preview",
      "gemini-3.5-flash",
      "gemini-embedding-001",
      "vertex/gemini-2.5-pro",
      "vertex/gemini-2.5-flash",
      "vertex/gemini-2.5-flash-lite",
      "vertex/text-embedding-005",
      "vertex/gemini-embedding-001",
      "anthropic.claude-sonnet-4-5-20250929-v1:0",
      "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
      "anthropic.claude-haiku-4-5-20251001-v1:0",
      "amazon.nova-pro-v1:0",
      "amazon.nova-lite-v1:0",
      "meta.llama3-3-70b-instruct-v1:0",
      "mistral.mistral-large-2407-v1:0",
      "amazon.titan-embed-text-v2:0",
      "cohere.embed-english-v3",
      "azure/gpt-4o",
      "azure/gpt-4.1",
    ];
    expect(required.filter((id) => !byId.has(id))).toEqual([]);
    expect(cloud.length).toBeGreaterThan(70);
  });

  it("has exactly the list prices of cloud-model-prices.md (USD per 1M tokens), context and max output included", () => {
    const mismatches: string[] = [];
    for (const m of cloud) {
      const row = rows.get(rowId(m));
      if (!row && m.provider === "azure-openai" && m.sameAs) {
        // Not in the list (Azure's embedding models): Azure's global rate is OpenAI's (the list's section 4).
        const openai = byId.get(m.sameAs)!;
        if (JSON.stringify(openai.price) !== JSON.stringify(m.price) || openai.provider !== "openai")
          mismatches.push(`${m.id}: not the price of ${m.sameAs}`);
        continue;
      }
      if (!row) {
        mismatches.push(`${m.id}: no row ${rowId(m)} in the price list`);
        continue;
      }
      const ours = {
        input: m.price.input,
        output: m.type === "embedding" ? null : m.price.output,
        cachedInput: m.price.cachedInput ?? null,
        cacheWrite: m.price.cacheWrite ?? null,
        context: m.contextWindow,
        maxOutput: m.maxOutputTokens,
      };
      if (JSON.stringify(ours) !== JSON.stringify(row))
        mismatches.push(`${m.id}: ours ${JSON.stringify(ours)}, list ${JSON.stringify(row)}`);
      if (m.type === "embedding") expect(m.price.output, m.id).toBe("0");
    }
    expect(mismatches).toEqual([]);
  });

  it("maps each copy to its maker's model with sameAs: the same kind of model", () => {
    const same = cloud.filter((m) => m.sameAs !== undefined);
    expect(same.length).toBeGreaterThan(30);
    for (const m of same) {
      const target = models.find((t) => t.id === m.sameAs || t.aliases?.includes(m.sameAs!));
      expect(target, `${m.id} sameAs ${m.sameAs}`).toBeDefined();
      expect(target!.type).toBe(m.type);
      expect(CLOUD.has(target!.provider) && target!.provider !== "gemini").toBe(false);
    }
    expect(byId.get("anthropic.claude-sonnet-4-5-20250929-v1:0")?.sameAs).toBe("claude-sonnet-4-5-20250929");
    expect(byId.get("vertex/gemini-2.5-flash")?.sameAs).toBe("gemini-2.5-flash");
    expect(byId.get("azure/gpt-4o")?.sameAs).toBe("gpt-4o");
  });

  it("names each provider's models the way its adapter sends them", () => {
    for (const m of cloud) {
      if (m.provider === "azure-openai") expect(m.id, m.id).toMatch(/^azure\//);
      if (m.provider === "vertex") expect(m.id, m.id).toMatch(/^vertex\//);
      if (m.provider === "gemini") expect(m.id, m.id).toMatch(/^gemini-/);
      if (m.provider === "bedrock") expect(m.id, m.id).toMatch(/^((us|eu|apac|global)\.)?(anthropic|amazon|meta|mistral|cohere)\./);
    }
  });
});
