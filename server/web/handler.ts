// The shape every Web handler has on both hosts and in both wrappers: a Web-standard
// `(Request, ctx) => Response` function per HTTP method, and the lean host's route table entries.

/** The methods an endpoint answers: those it declares, HEAD with GET, OPTIONS (204 with Allow), and 405 for the rest. */
export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** What Next passes a route handler besides the request; the lean host fills `params` from the pattern. */
export type RouteContext = { params?: Promise<Record<string, string | string[] | undefined>> };
export type WebHandler = (req: Request, ctx?: RouteContext) => Promise<Response>;

/** One path of the lean route table: a pattern such as `/v1/models/:id` and its handlers per method. */
export type LeanRoute = { pattern: string; handlers: Record<HttpMethod, WebHandler> };

/**
 * Matches `/v1/vector/collections/:name` style patterns against a path. A parameter that is not
 * valid percent-encoding (`/v1/models/%`) is kept as sent and the match says so (`malformed`).
 */
export function matchRoute(
  routes: readonly LeanRoute[],
  pathname: string,
): { route: LeanRoute; params: Record<string, string>; malformed?: string } | undefined {
  const parts = pathname.replace(/\/+$/, "").split("/");
  for (const route of routes) {
    const pat = route.pattern.split("/");
    if (pat.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let malformed: string | undefined;
    let ok = true;
    for (let i = 0; i < pat.length && ok; i++) {
      const p = pat[i]!;
      const v = parts[i]!;
      if (p.startsWith(":")) {
        if (!v) ok = false;
        else params[p.slice(1)] = decodeSegment(v) ?? ((malformed ??= p.slice(1)), v);
      } else if (p !== v) ok = false;
    }
    if (ok) return malformed ? { route, params, malformed } : { route, params };
  }
  return undefined;
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
