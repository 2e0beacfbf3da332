// The chart renderer itself, on the Go text/template behaviour the chart relies on.
import { describe, expect, it } from "vitest";
import { Renderer, TemplateError } from "./go-template.ts";

function render(source: string, data: unknown, partials = ""): string {
  const r = new Renderer();
  if (partials) r.add("_helpers.tpl", partials);
  r.add("t.yaml", source);
  return r.render("t.yaml", data);
}

describe("go-template renderer", () => {
  it("trims whitespace at {{- and -}} and drops comments", () => {
    expect(render("a  {{- .x -}}  b", { x: 1 })).toBe("a1b");
    expect(render("a\n{{- /* note */}}\nb", {})).toBe("a\nb");
    expect(render("a {{ .x }} b", { x: "y" })).toBe("a y b");
  });

  it("prints missing values as nothing, and refuses to print a map", () => {
    expect(render("[{{ .a.b.c }}]", {})).toBe("[]");
    expect(() => render("{{ .a }}", { a: { b: 1 } })).toThrow(/use toYaml/);
  });

  it("branches with if / else if / else on Go's truthiness", () => {
    const t = "{{ if .a }}A{{ else if .b }}B{{ else }}C{{ end }}";
    expect(render(t, { a: "x" })).toBe("A");
    expect(render(t, { a: "", b: [1] })).toBe("B");
    expect(render(t, { a: 0, b: [], c: {} })).toBe("C");
    expect(render("{{ if not .a }}none{{ end }}", { a: {} })).toBe("none");
  });

  it("ranges over maps in key order and over lists, with variables, and scopes them", () => {
    expect(render("{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}", { m: { b: 2, a: 1 } })).toBe("a=1;b=2;");
    expect(render("{{ range .l }}<{{ . }}>{{ end }}", { l: ["x", "y"] })).toBe("<x><y>");
    expect(render("{{ range .l }}x{{ else }}empty{{ end }}", { l: [] })).toBe("empty");
    expect(render("{{ with .a }}{{ .b }}{{ end }}|{{ $.top }}", { a: { b: "in" }, top: "root" })).toBe("in|root");
    expect(() => render("{{ if .a }}{{ $x := 1 }}{{ end }}{{ $x }}", { a: true })).toThrow(/undefined variable \$x/);
  });

  it("includes defined templates, pipes into the last argument and indents", () => {
    const helpers = '{{- define "labels" -}}\na: {{ .name }}\nb: "2"\n{{- end }}';
    expect(render('x:\n  {{- include "labels" . | nindent 2 }}', { name: "n" }, helpers)).toBe('x:\n  a: n\n  b: "2"');
    expect(render('{{ .v | default "d" | quote }}', { v: "" })).toBe('"d"');
    expect(render('{{ printf "%s-%s" .a .b | trunc 5 | trimSuffix "-" }}', { a: "abcd", b: "e" })).toBe("abcd");
    expect(render("{{ toYaml .m | indent 2 }}", { m: { k: [1, 2] } })).toBe("  k:\n    - 1\n    - 2");
    expect(render('{{ (print "a" "b") | b64enc }}', {})).toBe(Buffer.from("ab").toString("base64"));
  });

  it("fails on required values, unknown functions and unbalanced blocks", () => {
    expect(() => render('{{ required "x is required" .x }}', {})).toThrow(new TemplateError("x is required"));
    expect(() => render("{{ lookup .x }}", {})).toThrow(/unknown function lookup/);
    expect(() => render("{{ if .x }}open", {})).toThrow(/missing end/);
    expect(() => render("{{ end }}", {})).toThrow(/unexpected end/);
  });
});
