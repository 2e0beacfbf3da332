// next-auth's routes see the request at the browser's address (Host, X-Forwarded-*), as its
// sign-in server actions do: Next hands route handlers a URL on its own listening address
// (http://localhost:<port>, and its NextURL turns 127.0.0.1 into localhost), and an OAuth or
// OpenID Connect provider refuses a code exchange whose redirect URI differs from the
// authorization's. (The whole sign-in against a real provider: e2e/sso.spec.ts.)
import { NextRequest } from "next/server";
import { afterEach, describe, expect, it } from "vitest";
import { atBrowserAddress } from "./next-auth.ts";

const at = (url: string, headers: Record<string, string>, init: { method?: string; body?: string } = {}) =>
  new NextRequest(url, { headers, ...init });

describe("next-auth's routes at the browser's address", () => {
  afterEach(() => {
    delete process.env.AUTH_URL;
  });

  it("takes the host from Host, or X-Forwarded-Host and -Proto behind a proxy, keeping the path and query", () => {
    const direct = atBrowserAddress(at("http://localhost:8003/api/auth/callback/oidc?code=c&state=s", { host: "127.0.0.1:41234" }));
    expect(direct.url).toBe("http://127.0.0.1:41234/api/auth/callback/oidc?code=c&state=s");
    const proxied = atBrowserAddress(
      at("http://localhost:8003/api/auth/signin/github", {
        host: "10.0.0.5:8003",
        "x-forwarded-host": "gateway.example.com",
        "x-forwarded-proto": "https",
      }),
    );
    expect(proxied.url).toBe("https://gateway.example.com/api/auth/signin/github");
  });

  it("keeps the method, headers and body", async () => {
    const req = atBrowserAddress(
      at(
        "http://localhost:8003/api/auth/callback/credentials",
        { host: "gw.local", cookie: "a=b", "content-type": "application/x-www-form-urlencoded" },
        {
          method: "POST",
          body: "email=e&password=p",
        },
      ),
    );
    expect(req.method).toBe("POST");
    expect(req.headers.get("cookie")).toBe("a=b");
    expect(await req.text()).toBe("email=e&password=p");
  });

  it("leaves the request alone with AUTH_URL (next-auth applies it), without a Host, or when nothing differs", () => {
    process.env.AUTH_URL = "https://fixed.example.com";
    const withEnv = at("http://localhost:8003/api/auth/csrf", { host: "127.0.0.1:1" });
    expect(atBrowserAddress(withEnv)).toBe(withEnv);
    delete process.env.AUTH_URL;
    const same = at("http://gw.local/api/auth/csrf", { host: "gw.local" });
    expect(atBrowserAddress(same)).toBe(same);
    const bad = at("http://localhost:8003/api/auth/csrf", { "x-forwarded-proto": "gopher", host: "gw.local" });
    expect(atBrowserAddress(bad).url).toBe("http://gw.local/api/auth/csrf");
  });
});
