// The vectors page's add form (#20 item 5): one document, or one per line with numbered ids.
import { describe, expect, it } from "vitest";
import { documentsOf, pointId } from "./vectors.ts";

describe("documentsOf", () => {
  it("keeps the text as one document, a whole-number id as an integer", () => {
    expect(documentsOf(" 42 ", "a\nb", false)).toEqual([{ id: 42, text: "a\nb" }]);
    expect(documentsOf("doc", "a", false)).toEqual([{ id: "doc", text: "a" }]);
  });

  it("makes each non-empty line a document, numbering the ids", () => {
    expect(documentsOf("doc", "first\n\n  second  \r\nthird\n", true)).toEqual([
      { id: "doc-1", text: "first" },
      { id: "doc-2", text: "second" },
      { id: "doc-3", text: "third" },
    ]);
    expect(documentsOf("7", "x\ny", true)).toEqual([
      { id: 7, text: "x" },
      { id: 8, text: "y" },
    ]);
    expect(documentsOf("doc", "\n \n", true)).toEqual([]);
  });

  it("reads ids as the REST API takes them", () => {
    expect(pointId("0")).toBe(0);
    expect(pointId("a1")).toBe("a1");
  });
});
