// A small renderer for the part of Go's text/template (with Helm's and Sprig's functions) that the
// chart in k8s/ uses, so that a test can render the chart without the helm binary. Anything outside
// that subset throws, naming the template and what was not understood: keep the chart inside it.
//
// Supported: text with `{{- ... -}}` whitespace trimming and `{{/* comments */}}`; `define`, `if` /
// `else if` / `else`, `range` (lists and maps, with `$i, $v :=`), `with`, `end`; pipelines with `|`,
// parenthesised sub-pipelines, `$x := ...` / `$x = ...`; operands `.`, `.A.B`, `$`, `$x.A`, strings,
// numbers, true/false/nil; the functions listed in FUNCTIONS below. Missing values print as "" (as
// Helm prints them), and printing a map or a list throws (a template bug: use toYaml).
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import YAML from "yaml";

type Operand =
  | { k: "field"; base: "." | string; path: string[] }
  | { k: "lit"; value: unknown }
  | { k: "ident"; name: string }
  | { k: "sub"; pipe: Pipeline; path: string[] };
type Command = Operand[];
type Pipeline = { decl: string[]; assign: "declare" | "set" | undefined; cmds: Command[] };
type Node =
  | { t: "text"; s: string }
  | { t: "action"; pipe: Pipeline }
  | { t: "if"; branches: { cond: Pipeline; body: Node[] }[]; otherwise: Node[] }
  | { t: "range"; pipe: Pipeline; body: Node[]; otherwise: Node[] }
  | { t: "with"; pipe: Pipeline; body: Node[]; otherwise: Node[] };

export class TemplateError extends Error {
  override name = "TemplateError";
}

// ---- lexing: text and actions ------------------------------------------------------------------

type Piece = { kind: "text"; s: string } | { kind: "action"; s: string };

function split(source: string, name: string): Piece[] {
  const pieces: Piece[] = [];
  let i = 0;
  let trimNext = false;
  while (i < source.length) {
    const open = source.indexOf("{{", i);
    let text = source.slice(i, open < 0 ? source.length : open);
    if (trimNext) text = text.replace(/^\s+/, "");
    if (open < 0) {
      pieces.push({ kind: "text", s: text });
      break;
    }
    const close = source.indexOf("}}", open + 2);
    if (close < 0) throw new TemplateError(`${name}: unclosed action at offset ${open}`);
    let inner = source.slice(open + 2, close);
    if (/^-\s/.test(inner)) {
      text = text.replace(/\s+$/, "");
      inner = inner.slice(1);
    }
    trimNext = /\s-$/.test(inner);
    if (trimNext) inner = inner.slice(0, -1);
    pieces.push({ kind: "text", s: text });
    inner = inner.trim();
    if (!(inner.startsWith("/*") && inner.endsWith("*/"))) pieces.push({ kind: "action", s: inner });
    i = close + 2;
  }
  return pieces.filter((p) => p.kind === "action" || p.s !== "");
}

// ---- parsing an action's pipeline ----------------------------------------------------------------

/** `glued`: no space before it (a field chain after a parenthesis: `(pipeline).Field`). */
type Token = { k: "str" | "num" | "word" | "punct"; v: string; glued?: boolean };

function tokenize(s: string, where: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === "\\" ? 2 : 1;
      out.push({ k: "str", v: JSON.parse(s.slice(i, j + 1)) as string });
      i = j + 1;
    } else if (c === "`") {
      const j = s.indexOf("`", i + 1);
      out.push({ k: "str", v: s.slice(i + 1, j) });
      i = j + 1;
    } else if (s.startsWith(":=", i)) {
      out.push({ k: "punct", v: ":=" });
      i += 2;
    } else if ("|(),=".includes(c)) {
      out.push({ k: "punct", v: c });
      i++;
    } else {
      const m = /^-?\d+(\.\d+)?|^[$.\w][\w.$-]*/.exec(s.slice(i));
      if (!m) throw new TemplateError(`${where}: cannot read "${s.slice(i)}"`);
      out.push({ k: /^-?\d/.test(m[0]) ? "num" : "word", v: m[0], glued: i > 0 && !/\s/.test(s[i - 1]!) });
      i += m[0].length;
    }
  }
  return out;
}

function parsePipeline(tokens: Token[], where: string): Pipeline {
  let pos = 0;
  const pipe: Pipeline = { decl: [], assign: undefined, cmds: [] };
  // `$a, $b :=` or `$a =`
  const assignAt = tokens.findIndex((t) => t.k === "punct" && (t.v === ":=" || t.v === "="));
  if (assignAt > 0 && tokens.slice(0, assignAt).every((t) => (t.k === "word" && t.v.startsWith("$")) || t.v === ",")) {
    pipe.decl = tokens.slice(0, assignAt).filter((t) => t.v !== ",").map((t) => t.v);
    pipe.assign = tokens[assignAt]!.v === ":=" ? "declare" : "set";
    pos = assignAt + 1;
  }
  const operand = (): Operand => {
    const t = tokens[pos++];
    if (!t) throw new TemplateError(`${where}: expected an operand`);
    if (t.k === "str") return { k: "lit", value: t.v };
    if (t.k === "num") return { k: "lit", value: Number(t.v) };
    if (t.k === "punct" && t.v === "(") {
      const start = pos;
      let depth = 1;
      while (pos < tokens.length && depth > 0) {
        const v = tokens[pos]!;
        if (v.k === "punct" && v.v === "(") depth++;
        if (v.k === "punct" && v.v === ")") depth--;
        pos++;
      }
      if (depth !== 0) throw new TemplateError(`${where}: unclosed (`);
      const sub = parsePipeline(tokens.slice(start, pos - 1), where);
      const next = tokens[pos];
      const fields = next && next.k === "word" && next.glued && next.v.length > 1 && next.v.startsWith(".") ? (pos++, next.v.slice(1).split(".")) : [];
      return { k: "sub", pipe: sub, path: fields };
    }
    if (t.k !== "word") throw new TemplateError(`${where}: unexpected "${t.v}"`);
    if (t.v === "true" || t.v === "false") return { k: "lit", value: t.v === "true" };
    if (t.v === "nil") return { k: "lit", value: undefined };
    if (t.v === ".") return { k: "field", base: ".", path: [] };
    if (t.v.startsWith(".")) return { k: "field", base: ".", path: t.v.slice(1).split(".") };
    if (t.v.startsWith("$")) {
      const [base, ...rest] = t.v.split(".");
      return { k: "field", base: base!, path: rest };
    }
    return { k: "ident", name: t.v };
  };
  let cmd: Command = [];
  while (pos < tokens.length) {
    const t = tokens[pos]!;
    if (t.k === "punct" && t.v === "|") {
      pos++;
      pipe.cmds.push(cmd);
      cmd = [];
      continue;
    }
    if (t.k === "punct" && (t.v === ")" || t.v === "," || t.v === "=" || t.v === ":=")) {
      throw new TemplateError(`${where}: unexpected "${t.v}"`);
    }
    cmd.push(operand());
  }
  pipe.cmds.push(cmd);
  if (pipe.cmds.some((c) => c.length === 0)) throw new TemplateError(`${where}: empty command in a pipeline`);
  return pipe;
}

// ---- parsing the tree --------------------------------------------------------------------------

function parseTemplates(source: string, file: string, defines: Map<string, Node[]>): Node[] {
  const pieces = split(source, file);
  let i = 0;
  // Parses nodes until one of `stops` (an action keyword); returns the nodes and the stop action.
  const parseUntil = (stops: string[]): { nodes: Node[]; stop: string | undefined } => {
    const nodes: Node[] = [];
    while (i < pieces.length) {
      const p = pieces[i++]!;
      if (p.kind === "text") {
        nodes.push({ t: "text", s: p.s });
        continue;
      }
      const where = `${file}: {{ ${p.s} }}`;
      const keyword = /^(if|else|end|range|with|define|template|block)\b/.exec(p.s)?.[1];
      if (keyword === "end" || keyword === "else") {
        if (!stops.includes(keyword)) throw new TemplateError(`${where}: unexpected ${keyword}`);
        return { nodes, stop: p.s };
      }
      if (keyword === "template" || keyword === "block") throw new TemplateError(`${where}: use include, not ${keyword}`);
      const rest = () => parsePipeline(tokenize(p.s.slice(keyword!.length), where), where);
      if (keyword === "define") {
        const name = tokenize(p.s.slice("define".length), where)[0];
        if (name?.k !== "str") throw new TemplateError(`${where}: define needs a quoted name`);
        const body = parseUntil(["end"]);
        defines.set(name.v, body.nodes);
      } else if (keyword === "if") {
        const branches = [{ cond: rest(), body: [] as Node[] }];
        let otherwise: Node[] = [];
        for (;;) {
          const part = parseUntil(["else", "end"]);
          if (part.stop === undefined) throw new TemplateError(`${where}: missing end`);
          if (part.stop === "end") {
            branches[branches.length - 1]!.body = part.nodes;
            break;
          }
          branches[branches.length - 1]!.body = part.nodes;
          const elseIf = /^else\s+if\s+(.*)$/s.exec(part.stop);
          if (elseIf) {
            branches.push({ cond: parsePipeline(tokenize(elseIf[1]!, where), where), body: [] });
            continue;
          }
          const tail = parseUntil(["end"]);
          otherwise = tail.nodes;
          break;
        }
        nodes.push({ t: "if", branches, otherwise });
      } else if (keyword === "range" || keyword === "with") {
        const pipe = rest();
        const body = parseUntil(["else", "end"]);
        if (body.stop === undefined) throw new TemplateError(`${where}: missing end`);
        const otherwise = body.stop === "end" ? [] : parseUntil(["end"]).nodes;
        nodes.push({ t: keyword, pipe, body: body.nodes, otherwise });
      } else {
        nodes.push({ t: "action", pipe: parsePipeline(tokenize(p.s, where), where) });
      }
    }
    return { nodes, stop: undefined };
  };
  const top = parseUntil([]);
  return top.nodes;
}

// ---- evaluation --------------------------------------------------------------------------------

class Scope {
  private vars = new Map<string, unknown>();
  constructor(
    readonly parent: Scope | undefined,
    readonly dot: unknown,
  ) {}
  get(name: string): unknown {
    if (this.vars.has(name)) return this.vars.get(name);
    if (this.parent) return this.parent.get(name);
    throw new TemplateError(`undefined variable ${name}`);
  }
  declare(name: string, value: unknown): void {
    this.vars.set(name, value);
  }
  set(name: string, value: unknown): void {
    if (this.vars.has(name)) this.vars.set(name, value);
    else if (this.parent) this.parent.set(name, value);
    else throw new TemplateError(`undefined variable ${name}`);
  }
}

/** Go's notion of an empty value: false, 0, "", nil, an empty list or map. */
export function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v).length > 0;
  return true;
}

function walk(value: unknown, fields: string[]): unknown {
  let v = value;
  for (const f of fields) {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "object") throw new TemplateError(`cannot read .${f} of a ${typeof v}`);
    v = (v as Record<string, unknown>)[f];
  }
  return v;
}

function toText(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  throw new TemplateError(`cannot print a ${Array.isArray(v) ? "list" : "map"} (use toYaml)`);
}

function indent(n: number, s: string): string {
  const pad = " ".repeat(n);
  return pad + toText(s).replace(/\n/g, `\n${pad}`);
}

type Fn = (...args: unknown[]) => unknown;

export class Renderer {
  private defines = new Map<string, Node[]>();
  private files = new Map<string, Node[]>();
  private fns: Record<string, Fn>;

  constructor() {
    this.fns = {
      include: (name, dot) => this.execute(this.lookup(String(name)), dot),
      required: (message, v) => {
        if (v === undefined || v === null || v === "") throw new TemplateError(String(message));
        return v;
      },
      fail: (message) => {
        throw new TemplateError(String(message));
      },
      default: (fallback, v) => (truthy(v) ? v : fallback),
      quote: (...args) => args.filter((a) => a !== undefined && a !== null).map((a) => JSON.stringify(toText(a))).join(" "),
      toString: (v: unknown) => toText(v),
      toYaml: (v) => (v === undefined || v === null ? "null" : YAML.stringify(v).replace(/\n$/, "")),
      indent: (n, s) => indent(Number(n), toText(s)),
      nindent: (n, s) => `\n${indent(Number(n), toText(s))}`,
      b64enc: (s) => Buffer.from(toText(s)).toString("base64"),
      sha256sum: (s) => createHash("sha256").update(toText(s)).digest("hex"),
      trunc: (n, s) => toText(s).slice(0, Number(n)),
      trimSuffix: (suffix, s) => (toText(s).endsWith(toText(suffix)) ? toText(s).slice(0, -toText(suffix).length) : toText(s)),
      contains: (sub, s) => toText(s).includes(toText(sub)),
      replace: (from, to, s) => toText(s).split(toText(from)).join(toText(to)),
      print: (...args) => args.map(toText).join(""),
      printf: (format, ...args) => {
        let n = 0;
        return toText(format).replace(/%[sdv%]/g, (m) => (m === "%%" ? "%" : toText(args[n++])));
      },
      not: (v) => !truthy(v),
      and: (...args) => args.find((a) => !truthy(a)) ?? args[args.length - 1],
      or: (...args) => args.find((a) => truthy(a)) ?? args[args.length - 1],
      eq: (a, ...rest) => rest.some((b) => a === b),
      ne: (a, b) => a !== b,
      empty: (v) => !truthy(v),
    };
  }

  /** Registers a file's `define`s and, unless it is a partial (`_*.tpl`), the file itself by `name`. */
  add(name: string, source: string): void {
    const nodes = parseTemplates(source, name, this.defines);
    if (!path.basename(name).startsWith("_")) this.files.set(name, nodes);
  }

  fileNames(): string[] {
    return [...this.files.keys()];
  }

  render(name: string, data: unknown): string {
    return this.execute(this.lookup(name), data);
  }

  private lookup(name: string): Node[] {
    const nodes = this.defines.get(name) ?? this.files.get(name);
    if (!nodes) throw new TemplateError(`no template named "${name}"`);
    return nodes;
  }

  private execute(nodes: Node[], dot: unknown): string {
    const root = new Scope(undefined, dot);
    root.declare("$", dot);
    return this.run(nodes, root);
  }

  private run(nodes: Node[], scope: Scope): string {
    let out = "";
    for (const node of nodes) {
      switch (node.t) {
        case "text":
          out += node.s;
          break;
        case "action": {
          const v = this.pipeline(node.pipe, scope);
          if (!node.pipe.assign) out += toText(v);
          break;
        }
        case "if": {
          const inner = new Scope(scope, scope.dot);
          const branch = node.branches.find((b) => truthy(this.pipeline(b.cond, inner)));
          out += this.run(branch ? branch.body : node.otherwise, inner);
          break;
        }
        case "with": {
          const inner = new Scope(scope, scope.dot);
          const v = this.pipeline(node.pipe, inner);
          out += truthy(v) ? this.run(node.body, new Scope(inner, v)) : this.run(node.otherwise, inner);
          break;
        }
        case "range": {
          const outer = new Scope(scope, scope.dot);
          const decl = node.pipe.decl;
          const v = this.pipeline({ ...node.pipe, decl: [], assign: undefined }, outer);
          const entries: [unknown, unknown][] = Array.isArray(v)
            ? v.map((x, i) => [i, x])
            : v && typeof v === "object"
              ? Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]])
              : v === undefined || v === null
                ? []
                : (() => {
                    throw new TemplateError(`range over a ${typeof v}`);
                  })();
          if (entries.length === 0) out += this.run(node.otherwise, outer);
          for (const [key, value] of entries) {
            const inner = new Scope(outer, value);
            if (decl.length === 1) inner.declare(decl[0]!, value);
            if (decl.length === 2) {
              inner.declare(decl[0]!, key);
              inner.declare(decl[1]!, value);
            }
            out += this.run(node.body, inner);
          }
          break;
        }
      }
    }
    return out;
  }

  private pipeline(pipe: Pipeline, scope: Scope): unknown {
    let value: unknown;
    let piped = false;
    for (const cmd of pipe.cmds) {
      value = this.command(cmd, scope, piped ? [value] : []);
      piped = true;
    }
    if (pipe.assign === "declare") for (const name of pipe.decl) scope.declare(name, value);
    if (pipe.assign === "set") for (const name of pipe.decl) scope.set(name, value);
    return value;
  }

  private command(cmd: Command, scope: Scope, piped: unknown[]): unknown {
    const [head, ...args] = cmd;
    if (head!.k === "ident") {
      const fn = this.fns[head!.name];
      if (!fn) throw new TemplateError(`unknown function ${head!.name}`);
      return fn(...args.map((a) => this.operand(a, scope)), ...piped);
    }
    if (args.length > 0 || piped.length > 0) throw new TemplateError("only a function can take arguments");
    return this.operand(head!, scope);
  }

  private operand(op: Operand, scope: Scope): unknown {
    switch (op.k) {
      case "lit":
        return op.value;
      case "ident":
        return this.command([op], scope, []);
      case "sub":
        return walk(this.pipeline(op.pipe, scope), op.path);
      case "field":
        return walk(op.base === "." ? scope.dot : scope.get(op.base), op.path);
    }
  }
}

export type RenderedChart = { file: string; text: string; documents: Record<string, unknown>[] }[];

/** Deep merge: `over` wins; lists are replaced, not merged (as Helm merges --set and -f values). */
export function mergeValues(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (base && over && typeof base === "object" && typeof over === "object" && !Array.isArray(base) && !Array.isArray(over)) {
    const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
    for (const [k, v] of Object.entries(over)) out[k] = mergeValues(out[k], v);
    return out;
  }
  return over;
}

/**
 * Renders a chart as `helm template` would (templates/*.yaml with _helpers.tpl's defines), with
 * values.yaml merged with `values`; every rendered file is parsed as YAML documents (empty ones dropped).
 */
export function renderChart(
  chartDir: string,
  options: { releaseName: string; namespace?: string; values?: Record<string, unknown>; revision?: number },
): RenderedChart {
  const chart = YAML.parse(readFileSync(path.join(chartDir, "Chart.yaml"), "utf8")) as Record<string, unknown>;
  const values = mergeValues(YAML.parse(readFileSync(path.join(chartDir, "values.yaml"), "utf8")) ?? {}, options.values ?? {});
  const chartName = String(chart.name);
  const renderer = new Renderer();
  const templatesDir = path.join(chartDir, "templates");
  const names = readdirSync(templatesDir).filter((f) => /\.(ya?ml|tpl)$/.test(f)).sort();
  for (const f of names) renderer.add(`${chartName}/templates/${f}`, readFileSync(path.join(templatesDir, f), "utf8"));
  const out: RenderedChart = [];
  for (const file of renderer.fileNames()) {
    const data = {
      Values: values,
      Release: {
        Name: options.releaseName,
        Namespace: options.namespace ?? "default",
        Service: "Helm",
        IsInstall: true,
        IsUpgrade: false,
        Revision: options.revision ?? 1,
      },
      Chart: { Name: chartName, Version: chart.version, AppVersion: chart.appVersion },
      Template: { Name: file, BasePath: `${chartName}/templates` },
      Capabilities: { KubeVersion: { Version: "v1.31.0" } },
    };
    const text = renderer.render(file, data);
    const documents = YAML.parseAllDocuments(text).map((d) => {
      if (d.errors.length > 0) throw new TemplateError(`${file}: rendered YAML does not parse: ${d.errors[0]!.message}\n${text}`);
      return d.toJS() as Record<string, unknown> | null;
    });
    out.push({ file, text, documents: documents.filter((d): d is Record<string, unknown> => d !== null && d !== undefined) });
  }
  return out;
}
