// Attribution: who and what a call was for, as its caller says, stored on its usage event: tags
// (a feature, a team, an experiment), the end user of the calling app, the session (a chat, a
// job), and a small metadata object. The one place that reads and bounds them, whichever way they
// come:
//   - in the body: OpenAI's `user` and `metadata` (chat completions, embeddings), Anthropic's
//     `metadata.user_id` (/v1/messages), our REST `user` and `metadata` (/v1/llm/generate,
//     /v1/llm/generate-embeddings), tRPC's `attribution` object (the playground);
//   - in headers, for callers that cannot change the body: x-model-service-tags (a,b),
//     x-model-service-end-user, x-model-service-session, x-model-service-metadata (a JSON object).
// A field the body gives wins over its header (each field on its own: a body `user` and a
// header's tags make one attribution); the headers never reach a provider. Beyond a limit the
// call is refused with a 400 naming the field (or header) and the limit, before anything is paid.
import { z } from "zod";
import { AppError } from "../../kernel/errors.ts";
import { safeString, textProblem } from "../../kernel/validation.ts";

export const ATTRIBUTION_LIMITS = {
  /** Tags per call. */
  tags: 10,
  /** Characters per tag (from TAG_PATTERN). */
  tagLength: 64,
  /** Characters of an end user or a session id. */
  idLength: 256,
  /** Keys of the metadata object, and characters per key. */
  metadataKeys: 16,
  metadataKeyLength: 64,
  /** Bytes of the metadata object as JSON (UTF-8). */
  metadataBytes: 2048,
  /** Nesting of the metadata: the object itself is 1; {"a": {"b": [1]}} is 3. */
  metadataDepth: 3,
} as const;

/** What a tag may be made of: letters, digits and . _ : / - (so a comma separates tags, and a tag is safe in a URL). */
export const TAG_PATTERN = /^[A-Za-z0-9._:/-]+$/;

export const ATTRIBUTION_HEADERS = {
  tags: "x-model-service-tags",
  endUser: "x-model-service-end-user",
  session: "x-model-service-session",
  metadata: "x-model-service-metadata",
  /** true or false: store this call's request and response bodies (request-bodies.ts). */
  logBody: "x-model-service-log-body",
} as const;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type Metadata = { [key: string]: JsonValue };

export type Attribution = {
  /** Distinct, sorted (so [a, b] and [b, a] are one roll-up key); none is []. */
  tags: string[];
  endUser: string | null;
  session: string | null;
  metadata: Metadata | null;
  /** The caller's W3C `traceparent` header: the call's trace span continues it (call-spans.ts); not stored. */
  traceparent?: string;
  /** The request's x-model-service-log-body, when sent (request-bodies.ts decides with it). */
  logBody?: boolean;
};

export const NO_ATTRIBUTION: Attribution = Object.freeze({ tags: [], endUser: null, session: null, metadata: null }) as Attribution;

const L = ATTRIBUTION_LIMITS;

export const tagSchema = z
  .string()
  .min(1, { error: "a tag must not be empty" })
  .max(L.tagLength, { error: `a tag has at most ${L.tagLength} characters` })
  .regex(TAG_PATTERN, { error: "a tag is made of letters, digits and . _ : / - only" });

export const tagsSchema = z.array(tagSchema).max(L.tags, { error: `at most ${L.tags} tags` });

/** An end user or a session id: any storable text of up to 256 characters ("" is none, as OpenAI's SDKs may send `user: ""`). */
export const attributionIdSchema = safeString.max(L.idLength, { error: `has at most ${L.idLength} characters` });

/** Depth of a JSON value (a scalar is 0, [] or {} is 1), walked with its own stack. */
function depthOf(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    max = Math.max(max, d + 1);
    if (max > L.metadataDepth) return max; // deep enough to refuse; no need to walk further
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

export const metadataSchema = z
  .record(
    safeString.min(1, { error: "a metadata key must not be empty" }).max(L.metadataKeyLength, {
      error: `a metadata key has at most ${L.metadataKeyLength} characters`,
    }),
    z.json(),
  )
  .check((ctx) => {
    const value = ctx.value;
    const keys = Object.keys(value).length;
    const fail = (message: string): void => void ctx.issues.push({ code: "custom", message, input: value });
    if (keys > L.metadataKeys) return fail(`at most ${L.metadataKeys} keys (this has ${keys})`);
    if (depthOf(value) > L.metadataDepth) return fail(`nests at most ${L.metadataDepth} levels deep, the object itself included`);
    const bytes = Buffer.byteLength(JSON.stringify(value), "utf8");
    if (bytes > L.metadataBytes) return fail(`at most ${L.metadataBytes} bytes as JSON (this is ${bytes})`);
    const text = firstUnstorableString(value);
    if (text) return fail(`a string value ${text}`);
  }) as unknown as z.ZodType<Metadata>;

/** Why a string inside a JSON value (key or value) cannot be stored, if one cannot. */
function firstUnstorableString(value: unknown): string | undefined {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === "string") {
      const problem = textProblem(v);
      if (problem) return problem;
    } else if (v !== null && typeof v === "object") {
      for (const [k, child] of Object.entries(v)) {
        const problem = textProblem(k);
        if (problem) return problem;
        stack.push(child);
      }
    }
  }
  return undefined;
}

/** The tRPC form (the playground): every field optional. */
export const attributionInput = z.object({
  tags: tagsSchema.optional(),
  endUser: attributionIdSchema.optional(),
  session: attributionIdSchema.optional(),
  metadata: metadataSchema.optional(),
});
export type AttributionInput = z.infer<typeof attributionInput>;

/** A header's value checked by `schema`; a bad one is a 400 naming the header. */
function fromHeader<T>(schema: z.ZodType<T>, header: string, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const at = issue?.path.length ? ` (${issue.path.join(".")})` : "";
  throw new AppError("invalid_request", `${header}${at}: ${issue?.message ?? "invalid"}`, { field: header });
}

function headerTags(raw: string): string[] {
  const tags = raw
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  return fromHeader(tagsSchema, ATTRIBUTION_HEADERS.tags, tags);
}

function headerMetadata(raw: string): Metadata {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new AppError("invalid_request", `${ATTRIBUTION_HEADERS.metadata} must be a JSON object, e.g. {"feature":"search"}`, {
      field: ATTRIBUTION_HEADERS.metadata,
    });
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new AppError("invalid_request", `${ATTRIBUTION_HEADERS.metadata} must be a JSON object, e.g. {"feature":"search"}`, {
      field: ATTRIBUTION_HEADERS.metadata,
    });
  }
  // Before the schema, which walks the value recursively.
  if (depthOf(value) > L.metadataDepth) {
    throw new AppError(
      "invalid_request",
      `${ATTRIBUTION_HEADERS.metadata}: nests at most ${L.metadataDepth} levels deep, the object itself included`,
      { field: ATTRIBUTION_HEADERS.metadata },
    );
  }
  return fromHeader(metadataSchema, ATTRIBUTION_HEADERS.metadata, value);
}

/** A header as a string, or undefined when absent or blank. */
function header(headers: Headers | null | undefined, name: string): string | undefined {
  const v = headers?.get(name)?.trim();
  return v ? v : undefined;
}

/**
 * A call's attribution from what its body said (already checked by the schemas above, as each
 * edge's body schema uses them) and its headers; a field the body gives wins over its header.
 * Throws a 400 (AppError invalid_request) naming the header whose value is beyond a limit.
 */
export function attributionOf(body: AttributionInput | undefined, headers?: Headers | null): Attribution {
  const rawTags = header(headers, ATTRIBUTION_HEADERS.tags);
  const rawEndUser = header(headers, ATTRIBUTION_HEADERS.endUser);
  const rawSession = header(headers, ATTRIBUTION_HEADERS.session);
  const rawMetadata = header(headers, ATTRIBUTION_HEADERS.metadata);
  // Each header is checked even when the body overrides it: a bad header is a caller's bug either way.
  const fromHeaders = {
    tags: rawTags === undefined ? undefined : headerTags(rawTags),
    endUser: rawEndUser === undefined ? undefined : fromHeader(attributionIdSchema, ATTRIBUTION_HEADERS.endUser, rawEndUser),
    session: rawSession === undefined ? undefined : fromHeader(attributionIdSchema, ATTRIBUTION_HEADERS.session, rawSession),
    metadata: rawMetadata === undefined ? undefined : headerMetadata(rawMetadata),
  };
  const tags = body?.tags ?? fromHeaders.tags ?? [];
  const rawLogBody = header(headers, ATTRIBUTION_HEADERS.logBody)?.trim().toLowerCase();
  if (rawLogBody !== undefined && rawLogBody !== "true" && rawLogBody !== "false") {
    throw new AppError("invalid_request", `${ATTRIBUTION_HEADERS.logBody}: true or false, not ${JSON.stringify(rawLogBody.slice(0, 20))}`, {
      field: ATTRIBUTION_HEADERS.logBody,
    });
  }
  return {
    tags: [...new Set(tags)].sort(),
    endUser: body?.endUser || fromHeaders.endUser || null,
    session: body?.session || fromHeaders.session || null,
    metadata: body?.metadata ?? fromHeaders.metadata ?? null,
    ...traceparentOf(headers),
    ...(rawLogBody !== undefined ? { logBody: rawLogBody === "true" } : {}),
  };
}

/** The caller's `traceparent` header (checked where it is used: kernel/telemetry.ts contextOf); an overlong one is ignored. */
function traceparentOf(headers: Headers | null | undefined): { traceparent?: string } {
  const value = headers?.get("traceparent");
  return value && value.length <= 128 ? { traceparent: value } : {};
}
