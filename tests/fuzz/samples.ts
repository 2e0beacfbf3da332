// A valid-looking input for any zod schema, built from its JSON Schema (zod's toJSONSchema, the
// same one the OpenAPI document uses), with field-name hints where a made-up value would stop at
// the first lookup: the fixture collection, a model the emulator serves, a vector of the right size.
// Fuzz cases start from such a sample and break one thing in it, so they reach deep code paths.
import { z } from "zod";
import type { Random } from "./random.ts";

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema | JsonSchema[];
  prefixItems?: JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  pattern?: string;
  format?: string;
  additionalProperties?: JsonSchema | boolean;
  default?: unknown;
};

/** What the hints know about the fuzz run's fixtures, for one caller. */
export type Fixtures = {
  /** A collection the caller owns (vector size `vectorSize`). */
  collection: string;
  vectorSize: number;
  chatModels: string[];
  embeddingModels: string[];
  /** A key id the caller may act on without locking itself out. */
  spareKeyId: string;
  /** A model id an admin may edit without disturbing the chat models. */
  editableModel: string;
};

export function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { target: "draft-2020-12", io: "input", unrepresentable: "any" }) as JsonSchema;
}

/** A sample value for `schema`; `hint` may answer for a field by name first. */
export function sample(schema: z.ZodType | undefined, r: Random, fx: Fixtures): unknown {
  if (!schema) return undefined;
  const root = jsonSchemaOf(schema);
  return build(root, root, r, fx, undefined, 0);
}

function resolve(s: JsonSchema, root: JsonSchema): JsonSchema {
  if (!s.$ref) return s;
  if (s.$ref === "#") return root;
  const name = s.$ref.replace(/^#\/\$defs\//, "");
  return root.$defs?.[name] ?? {};
}

function build(raw: JsonSchema, root: JsonSchema, r: Random, fx: Fixtures, field: string | undefined, depth: number): unknown {
  const hinted = field === undefined ? undefined : hint(field, r, fx);
  if (hinted !== undefined) return hinted;
  const s = resolve(raw, root);
  if (depth > 6) return null;
  if (s.const !== undefined) return s.const;
  if (s.enum) return r.pick(s.enum);
  const options = s.anyOf ?? s.oneOf;
  if (options?.length) return build(r.pick(options), root, r, fx, field, depth + 1);
  if (s.allOf?.length) return build(s.allOf[0]!, root, r, fx, field, depth + 1);
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== "null") : s.type;
  switch (type) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [name, prop] of Object.entries(s.properties ?? {})) {
        if (s.required?.includes(name) || r.chance(0.5)) out[name] = build(prop, root, r, fx, name, depth + 1);
      }
      return out;
    }
    case "array": {
      const itemSchema = Array.isArray(s.items) ? s.items[0] : (s.items ?? s.prefixItems?.[0] ?? {});
      const n = Math.max(s.minItems ?? 0, 1);
      return Array.from({ length: n }, () => build(itemSchema ?? {}, root, r, fx, field ? singular(field) : undefined, depth + 1));
    }
    case "string":
      return stringFor(s, r);
    case "integer":
      return Math.max(s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : 1), Math.min(s.maximum ?? 3, 3));
    case "number":
      return Math.min(s.maximum ?? 0.5, Math.max(s.minimum ?? 0.5, 0.5));
    case "boolean":
      return r.chance(0.5);
    case "null":
      return null;
    default:
      return {};
  }
}

function stringFor(s: JsonSchema, r: Random): string {
  if (s.format === "date-time") return "2027-01-01T00:00:00.000Z";
  if (s.format === "date" || s.pattern?.includes("\\d{4}-\\d{2}-\\d{2}")) return "2026-11-15";
  if (s.format === "uri") return "https://example.com/hook";
  if (s.format === "email") return "fuzz@example.com";
  const base = r.pick(["fuzz", "hello world", "alpha-1"]);
  return s.minLength && base.length < s.minLength ? base.padEnd(s.minLength, "x") : base;
}

function singular(field: string): string {
  return field.endsWith("s") ? field.slice(0, -1) : field;
}

/** Field names whose value must name something that exists for the call to get anywhere. */
function hint(field: string, r: Random, fx: Fixtures): unknown {
  switch (field) {
    case "collection_name":
    case "name":
      return fx.collection;
    case "vector":
    case "query_vector":
      return Array.from({ length: fx.vectorSize }, (_, i) => (i + 1) / fx.vectorSize);
    case "model":
      return r.pick([...fx.chatModels, ...fx.embeddingModels]);
    case "messages":
      return [{ role: "user", content: r.pick(["hello there", "count to three"]) }];
    case "texts":
    case "input":
      return [r.pick(["alpha beta", "gamma"])];
    case "filter":
      return { must: [{ key: "lang", match: { value: "en" } }] };
    case "payload":
      return { lang: "en", n: 1 };
    case "start_date":
    case "start":
      return "2026-11-01";
    case "end_date":
    case "end":
      return "2026-11-30";
    case "tz":
      return r.pick(["UTC", "Europe/Berlin", "America/New_York"]);
    case "expiresAt":
      return "2030-01-01T00:00:00.000Z";
    case "id":
      return r.pick([fx.spareKeyId, fx.editableModel, 7, "point-1"]);
    case "stream":
      return false;
    case "max_tokens":
    case "maxTokens":
      return 16;
    case "timeout_ms":
      return 60_000;
    default:
      return undefined;
  }
}
