// Dashboard pages need a session: a request for a page without a session cookie is sent to
// /login (which sends on to /setup while no account exists). This is only the quick, optimistic
// check (is there a cookie at all?); the root layout verifies the session itself, and every API
// (REST, tRPC) authenticates each request on its own. Also tells the layout which path it renders.
import { NextResponse, type NextRequest } from "next/server";
import { safeCallbackUrl } from "@/lib/safe-path";

// Kept in step with server/access/session-token.ts (no server module is imported here).
const SESSION_COOKIES = ["authjs.session-token", "__Secure-authjs.session-token"];
const PUBLIC_PAGES = new Set(["/login", "/setup"]);

/**
 * A server action (a POST with `Next-Action`, or a multipart form post) whose Origin is another
 * site, or not a URL at all: Next refuses those too (CSRF), but answers 500 and logs an error. 403
 * says what it is. The comparison is Next's: the Origin's host against X-Forwarded-Host, else Host.
 */
function foreignAction(req: NextRequest): boolean {
  if (req.method !== "POST") return false;
  if (!req.headers.has("next-action") && !req.headers.get("content-type")?.startsWith("multipart/form-data")) return false;
  const origin = req.headers.get("origin");
  if (origin === null) return false; // no Origin: a handcrafted request, which Next lets through as well
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return true;
  }
  const forwarded = req.headers.get("x-forwarded-host")?.split(",")[0]?.trim();
  return originHost !== (forwarded || req.headers.get("host"));
}

export function proxy(req: NextRequest) {
  if (foreignAction(req)) {
    return NextResponse.json(
      { error: { code: "forbidden", message: "A form action from another site (its Origin is not this host)" } },
      { status: 403 },
    );
  }
  const { pathname, search } = req.nextUrl;
  const hasSession = req.cookies.getAll().some((c) => SESSION_COOKIES.some((name) => c.name === name || c.name.startsWith(`${name}.`)));
  if (!hasSession && !PUBLIC_PAGES.has(pathname)) {
    const login = new URL("/login", req.url);
    // Only a path of this site goes into the callback (a request for `//evil.example/x` is not one).
    const callbackUrl = safeCallbackUrl(`${pathname}${search}`);
    if (callbackUrl !== "/") login.searchParams.set("callbackUrl", callbackUrl);
    return NextResponse.redirect(login);
  }
  const headers = new Headers(req.headers);
  headers.set("x-ms-pathname", pathname);
  return NextResponse.next({ request: { headers } });
}

export const config = {
  // Pages only: not the APIs (they answer 401 themselves), Next's assets or files with an extension.
  matcher: ["/((?!api/|v1/|_next/|health$|ping$|metrics$|favicon\\.ico$|icon\\.svg$|.*\\.[a-zA-Z0-9]+$).*)"],
};
