// The REST reference: renders the OpenAPI document (endpoints, methods, access, parameters, body
// and response schemas) with no script and nothing from a CDN. A server component; only the
// document's *type* comes from the server.
import type { OpenApiDocument, OpenApiOperation, OpenApiParameter } from "../wire";
import { constraints, textParts } from "./api-reference-text";
import styles from "./api-reference.module.css";
import { TryIt } from "./try-it";

type Schema = Record<string, unknown>;

function refName(ref: string): string {
  return ref.split("/").pop() ?? ref;
}

function resolve(doc: OpenApiDocument, schema: Schema): Schema {
  const ref = schema.$ref;
  if (typeof ref === "string" && ref.startsWith("#/components/schemas/")) return doc.components.schemas[refName(ref)] ?? schema;
  return schema;
}

/** A short type: `string`, `integer 1–1000`, `"a" | "b"`, `array of object`, `Error`. */
export function typeLabel(schema: Schema | undefined): string {
  if (!schema || Object.keys(schema).length === 0) return "any";
  if (typeof schema.$ref === "string") return refName(schema.$ref);
  if ("const" in schema) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  const union = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (Array.isArray(union)) return [...new Set(union.map(typeLabel))].join(" | ");
  const type = Array.isArray(schema.type) ? schema.type.join(" | ") : typeof schema.type === "string" ? schema.type : "any";
  if (type === "array") return `array of ${typeLabel(schema.items as Schema | undefined)}`;
  return type;
}

/** A description with its `code` set as code (the document's descriptions are Markdown-ish). */
function Prose({ text }: { text: string | undefined }) {
  if (!text) return null;
  return <>{textParts(text).map((p, i) => (p.code ? <code key={i}>{p.text}</code> : <span key={i}>{p.text}</span>))}</>;
}

/** A field's description and its limits, in one cell. */
function Notes({ description, schema }: { description: unknown; schema: Schema }) {
  const limits = constraints(schema);
  const text = typeof description === "string" ? description : undefined;
  return (
    <>
      <Prose text={text} />
      {text && limits ? "; " : null}
      {limits}
    </>
  );
}

function ParametersTable({ parameters }: { parameters: OpenApiParameter[] }) {
  return (
    <table className={`table ${styles.fields}`}>
      <thead>
        <tr>
          <th>parameter</th>
          <th>in</th>
          <th>type</th>
          <th>constraints</th>
        </tr>
      </thead>
      <tbody>
        {parameters.map((p) => (
          <tr key={`${p.in}:${p.name}`}>
            <td>
              <code>{p.name}</code>
              {p.required ? <span className={styles.required}> required</span> : null}
            </td>
            <td>{p.in}</td>
            <td>
              <code>{typeLabel(p.schema)}</code>
            </td>
            <td className="muted">
              <Notes description={p.description} schema={p.schema} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

type FieldRow = { name: string; schema: Schema; required: boolean };

/** An object's fields, and the fields of its object fields as `a.b` (two levels), in order. */
function fieldRows(doc: OpenApiDocument, schema: Schema, prefix = "", depth = 0): FieldRow[] {
  const s = resolve(doc, schema);
  const props = (s.properties ?? {}) as Record<string, Schema>;
  const required = new Set((s.required ?? []) as string[]);
  const rows: FieldRow[] = [];
  for (const [name, child] of Object.entries(props)) {
    rows.push({ name: prefix + name, schema: child, required: required.has(name) });
    if (depth < 1 && resolve(doc, child).properties) rows.push(...fieldRows(doc, child, `${prefix}${name}.`, depth + 1));
  }
  return rows;
}

/** An object schema's fields as a table, with the whole JSON Schema one click away. */
function SchemaView({ doc, schema, label }: { doc: OpenApiDocument; schema: Schema; label: string }) {
  const s = resolve(doc, schema);
  const rows = fieldRows(doc, schema);
  return (
    <div className={styles.schema}>
      {rows.length ? (
        <table className={`table ${styles.fields}`}>
          <thead>
            <tr>
              <th>field</th>
              <th>type</th>
              <th>constraints</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.name}>
                <td>
                  <code>{row.name}</code>
                  {row.required ? <span className={styles.required}> required</span> : null}
                </td>
                <td>
                  <code>{typeLabel(row.schema)}</code>
                </td>
                <td className="muted">
                  <Notes description={row.schema.description} schema={row.schema} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted">
          <code>{typeLabel(s)}</code>
        </p>
      )}
      <details className={styles.json}>
        <summary>{label} as JSON Schema</summary>
        <pre>{JSON.stringify(schema, null, 2)}</pre>
      </details>
    </div>
  );
}

function Operation({ doc, path, method, op }: { doc: OpenApiDocument; path: string; method: string; op: OpenApiOperation }) {
  const body = op.requestBody?.content["application/json"]?.schema;
  const success = op.responses["200"];
  const successContent = success && "content" in success ? success.content : undefined;
  const errors = Object.entries(op.responses).filter(([status]) => status !== "200");
  const hasHead = method === "get" && Boolean((doc.paths[path] as Record<string, unknown>).head);
  return (
    <article className={`panel ${styles.operation}`} id={op.operationId}>
      <header className={styles.opHeader}>
        <span className={styles.method} data-method={method}>
          {method.toUpperCase()}
        </span>
        <code className={styles.path}>{path}</code>
        {hasHead ? <span className="muted">also HEAD</span> : null}
      </header>
      <p className={styles.summary}>
        <Prose text={op.summary} />
      </p>
      <div className={styles.chips}>
        <span className="pill">{op["x-access"] === "public" ? "public" : op["x-access"]}</span>
        {op["x-scope"] ? <span className="pill">scope {op["x-scope"]}</span> : null}
        {op["x-rate-limit"] ? <span className="pill">rate limit {op["x-rate-limit"]}</span> : null}
      </div>
      {op.description
        ? op.description.split("\n\n").map((para, i) => (
            <p key={i} className={`muted ${styles.description}`}>
              <Prose text={para} />
            </p>
          ))
        : null}
      {op.parameters?.length ? (
        <section>
          <h4>Parameters</h4>
          <ParametersTable parameters={op.parameters} />
        </section>
      ) : null}
      {body ? (
        <section>
          <h4>Request body (application/json)</h4>
          <SchemaView doc={doc} schema={body} label="The body" />
        </section>
      ) : null}
      <section>
        <h4>Responses</h4>
        <ul className={styles.responses}>
          <li>
            <code>200</code> {Object.keys(successContent ?? {}).join(", ")}
          </li>
          {errors.map(([status, r]) => (
            <li key={status}>
              <code>{status}</code> {"description" in r && r.description ? r.description : ""}{" "}
              {"$ref" in r ? <span className="muted">({refName(r.$ref)})</span> : null}
            </li>
          ))}
        </ul>
        {successContent?.["application/json"] && Object.keys(successContent["application/json"].schema).length ? (
          <SchemaView doc={doc} schema={successContent["application/json"].schema} label="The answer" />
        ) : null}
      </section>
      <Example path={path} method={method} op={op} />
    </article>
  );
}

/** The path with its parameters' example values, and the example query string. */
function exampleTarget(path: string, op: OpenApiOperation): { path: string; query: string } {
  const params = op.parameters ?? [];
  const filled = path.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = params.find((p) => p.in === "path" && p.name === name)?.example;
    return value ? encodeURIComponent(value) : whole;
  });
  const query = new URLSearchParams();
  for (const p of params) if (p.in === "query" && p.example !== undefined) query.set(p.name, p.example);
  return { path: filled, query: query.toString() };
}

/** A real request and its answer (recorded from the service: server/api/examples.json), and "Try it". */
function Example({ path, method, op }: { path: string; method: string; op: OpenApiOperation }) {
  const target = exampleTarget(path, op);
  const body = op.requestBody?.content["application/json"]?.example;
  const ok = op.responses["200"];
  const answer = ok && "content" in ok ? ok.content?.["application/json"]?.example : undefined;
  const bodyText = body === undefined ? null : JSON.stringify(body, null, 2);
  const url = target.query ? `${target.path}?${target.query}` : target.path;
  return (
    <section className={styles.exampleSection}>
      <h4>Example</h4>
      <pre className={styles.example} data-testid="example-request">
        {`${method.toUpperCase()} ${url}`}
        {Object.entries(op["x-example-headers"] ?? {})
          .map(([name, value]) => `\n${name}: ${value}`)
          .join("")}
        {bodyText !== null ? `\ncontent-type: application/json\n\n${bodyText}` : ""}
      </pre>
      {answer !== undefined ? (
        <details>
          <summary>The answer (200)</summary>
          <pre className={styles.example} data-testid="example-answer">
            {JSON.stringify(answer, null, 2)}
          </pre>
        </details>
      ) : null}
      <TryIt method={method} path={target.path} query={target.query} body={bodyText} />
    </section>
  );
}

export function ApiReference({ doc }: { doc: OpenApiDocument }) {
  const ops: { tag: string; path: string; method: string; op: OpenApiOperation }[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item as Record<string, OpenApiOperation>)) {
      if (method !== "head") ops.push({ tag: op.tags[0] ?? "Other", path, method, op });
    }
  }
  const tags = doc.tags.filter((t) => ops.some((o) => o.tag === t.name));
  const errorSchema = doc.components.schemas.Error;
  return (
    <div className={styles.reference}>
      <nav className={`panel ${styles.toc}`} aria-label="Endpoints">
        {tags.map((t) => (
          <div key={t.name}>
            <a href={`#tag-${t.name}`} className={styles.tocTag}>
              {t.name}
            </a>
            <ul>
              {ops
                .filter((o) => o.tag === t.name)
                .map((o) => (
                  <li key={o.op.operationId}>
                    <a href={`#${o.op.operationId}`}>
                      <span className={styles.tocMethod} data-method={o.method}>
                        {o.method.toUpperCase()}
                      </span>{" "}
                      {o.path}
                    </a>
                  </li>
                ))}
            </ul>
          </div>
        ))}
      </nav>
      <div className={styles.main}>
        <section className="panel">
          <h2>
            {doc.info.title} <span className="muted">{doc.info.version}</span>
          </h2>
          <p>
            OpenAPI {doc.openapi}, generated from the zod schemas that validate each request. The document:{" "}
            <a href="/v1/openapi.json">
              <code>GET /v1/openapi.json</code>
            </a>{" "}
            (public, no key needed). Authenticate with <code>Authorization: Bearer ms_…</code>, <code>x-api-key: ms_…</code>, a platform JWT
            or this dashboard&apos;s session.
          </p>
          {errorSchema ? <SchemaView doc={doc} schema={errorSchema} label="The error shape" /> : null}
        </section>
        {tags.map((t) => (
          <section key={t.name} id={`tag-${t.name}`} className={styles.tag}>
            <h3>{t.name}</h3>
            <p className="muted">
              <Prose text={t.description} />
            </p>
            {ops
              .filter((o) => o.tag === t.name)
              .map((o) => (
                <Operation key={o.op.operationId} doc={doc} path={o.path} method={o.method} op={o.op} />
              ))}
          </section>
        ))}
      </div>
    </div>
  );
}
