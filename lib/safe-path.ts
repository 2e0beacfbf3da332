// Where to send someone after sign-in: only a path of this site. Used by the sign-in page, the
// sign-in server actions, next-auth's redirect callback and proxy.ts (which builds the callback),
// so one rule decides everywhere. Isomorphic: no server module is imported.
//
// A browser does not read a Location the way a string check does: the URL parser drops tabs and
// newlines anywhere (`/\t/evil.example` becomes `//evil.example`, another host), treats `\` as `/`,
// and resolves dot segments (`/.//evil.example` is the path `//evil.example`, which a later
// redirect would again read as a host). So the value is parsed with that same parser against a
// placeholder origin, and kept only if it stays on that origin and its normalised path cannot be
// read as a host; what is returned is the normalised form, never the raw input.

const PLACEHOLDER = "http://callback.invalid";
/** Pages that must not be returned to after sign-in (a loop, or not a page). */
const NOT_AFTER_SIGN_IN = [/^\/login(?:[/?#]|$)/, /^\/setup(?:[/?#]|$)/, /^\/api(?:[/?#]|$)/];

/** Control characters (C0, DEL, C1): never part of a path we hand back. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** The same-origin path `value` names, normalised, or null when it is anything else. */
export function sameOriginPath(value: unknown): string | null {
  if (typeof value !== "string" || value.length === 0 || value.length > 2000) return null;
  if (!value.startsWith("/") || CONTROL.test(value) || value.includes("\\")) return null;
  // Encoded forms of the same tricks (%09, %5C, %2F%2F at the start) are refused too: a later hop
  // (a proxy, a framework) may decode once before it redirects.
  let decoded: string;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    return null;
  }
  if (CONTROL.test(decoded) || decoded.includes("\\") || decoded.startsWith("//")) return null;
  let url: URL;
  try {
    url = new URL(value, PLACEHOLDER);
  } catch {
    return null;
  }
  if (url.origin !== PLACEHOLDER) return null;
  const path = `${url.pathname}${url.search}${url.hash}`;
  if (!path.startsWith("/") || path.startsWith("//") || path.startsWith("/\\")) return null;
  return path;
}

/** A same-origin path to return to after sign-in; anything else (and the sign-in pages themselves) becomes "/". */
export function safeCallbackUrl(value: unknown): string {
  const path = sameOriginPath(value);
  if (path === null || NOT_AFTER_SIGN_IN.some((re) => re.test(path))) return "/";
  return path;
}
