// The sign-in callback: only a same-origin path survives, judged the way a browser reads a
// Location (tabs and newlines dropped, `\` as `/`, dot segments resolved), encoded forms included.
import { describe, expect, it } from "vitest";
import { safeCallbackUrl, sameOriginPath } from "./safe-path.ts";

/** Where a browser on https://ms.example goes when told `Location: <value>`. */
const browserTarget = (value: string) => new URL(value, "https://ms.example/login").origin;

describe("safeCallbackUrl", () => {
  const offSite = [
    "/\t/evil.example/x",
    "/\n/evil.example/x",
    "/\r\n/evil.example",
    "\t//evil.example",
    "/\u0000/evil.example",
    "//evil.example/x",
    "/\\evil.example/x",
    "/\\/evil.example",
    "\\\\evil.example",
    "/.//evil.example",
    "/a/..//evil.example",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "/%5Cevil.example",
    "/%09/evil.example",
    "/%0a/evil.example",
    "https://evil.example/x",
    "http:/evil.example",
    "javascript:alert(1)",
    "evil.example",
    "",
    "/%E0%A4%A",
  ];
  it.each(offSite)("refuses %j", (value) => {
    expect(safeCallbackUrl(value)).toBe("/");
  });

  it("the refused values would really leave the site (or are not paths), so the cases mean something", () => {
    const leaving = [
      "/\t/evil.example/x",
      "/\n/evil.example/x",
      "//evil.example/x",
      "/\\evil.example/x",
      "https://evil.example/x",
      "http:/evil.example",
    ];
    for (const v of leaving) expect(browserTarget(v), JSON.stringify(v)).not.toBe("https://ms.example");
    // A dot-segment path is same-origin on its own, but normalises to `//evil.example`, a host for the next redirect.
    expect(new URL("/.//evil.example", "https://ms.example").pathname).toBe("//evil.example");
  });

  it("keeps this site's paths, normalised, with their query and fragment", () => {
    expect(safeCallbackUrl("/keys")).toBe("/keys");
    expect(safeCallbackUrl("/usage?range=30&model=gpt-4o#top")).toBe("/usage?range=30&model=gpt-4o#top");
    expect(safeCallbackUrl("/a/../keys")).toBe("/keys");
    expect(safeCallbackUrl("/vectors/my%20collection")).toBe("/vectors/my%20collection");
    for (const v of ["/keys", "/a/../keys", "/usage?x=1"]) expect(browserTarget(safeCallbackUrl(v))).toBe("https://ms.example");
  });

  it("never returns to the sign-in pages or the APIs", () => {
    for (const v of ["/login", "/login?callbackUrl=/keys", "/setup", "/api/auth/signout", "/api", "/x/../login"])
      expect(safeCallbackUrl(v)).toBe("/");
    expect(safeCallbackUrl("/loginhelp")).toBe("/loginhelp");
  });

  it("refuses what is not a string", () => {
    for (const v of [undefined, null, 42, ["/keys"], { toString: () => "/keys" }]) expect(safeCallbackUrl(v)).toBe("/");
    expect(safeCallbackUrl(`/${"a".repeat(2001)}`)).toBe("/");
  });
});

describe("sameOriginPath", () => {
  it("allows the sign-in pages themselves (next-auth's redirect after sign-out)", () => {
    expect(sameOriginPath("/login")).toBe("/login");
    expect(sameOriginPath("/\t/evil.example")).toBeNull();
  });
});
