// How the API reference writes a schema's limits and a description (#20 item 6): limits as people
// write them (thousands separated, JavaScript's largest safe integer read as "no limit" rather than
// printed as 9007199254740991), and `code` in descriptions as code rather than literal backticks.

type Schema = Record<string, unknown>;

/** zod's bound for an unbounded integer: not a limit anyone set. */
const UNBOUNDED = Number.MAX_SAFE_INTEGER;

function bound(v: unknown): number | undefined {
  if (typeof v !== "number" || Math.abs(v) >= UNBOUNDED) return undefined;
  return v;
}

const num = (n: number) => n.toLocaleString("en-US", { maximumFractionDigits: 12 });

/** A schema's constraints in words: "1–1,000", "≥ 0", "≤ 100,000 chars", "default 10". */
export function constraints(schema: Schema): string {
  const out: string[] = [];
  const range = (min: unknown, max: unknown, unit: string) => {
    const lo = bound(min);
    const hi = bound(max);
    if (lo !== undefined && hi !== undefined) out.push(lo === hi ? `exactly ${num(lo)}${unit}` : `${num(lo)}–${num(hi)}${unit}`);
    else if (lo !== undefined && !(lo === 0 && unit === " chars")) out.push(`≥ ${num(lo)}${unit}`);
    else if (hi !== undefined) out.push(`≤ ${num(hi)}${unit}`);
  };
  range(schema.minimum ?? schema.exclusiveMinimum, schema.maximum ?? schema.exclusiveMaximum, "");
  range(schema.minLength, schema.maxLength, " chars");
  range(schema.minItems, schema.maxItems, " items");
  if (typeof schema.pattern === "string") out.push(`pattern ${schema.pattern}`);
  if (typeof schema.format === "string") out.push(schema.format);
  if (schema.default !== undefined) out.push(`default ${JSON.stringify(schema.default)}`);
  return out.join(", ");
}

/** A description split into text and `code` parts (a lone backtick stays text). */
export function textParts(text: string): { code: boolean; text: string }[] {
  const parts: { code: boolean; text: string }[] = [];
  const re = /`([^`]+)`/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index > last) parts.push({ code: false, text: text.slice(last, m.index) });
    parts.push({ code: true, text: m[1]! });
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push({ code: false, text: text.slice(last) });
  return parts;
}
