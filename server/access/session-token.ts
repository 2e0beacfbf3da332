import "server-only";
// Reads the dashboard's session cookie (set by next-auth, see server/api/dashboard/next-auth.ts) without
// Next: the cookie is an encrypted JWT (Auth.js's own format) keyed by AUTH_SECRET and salted
// with the cookie's name, so REST handlers on the lean host and tRPC see the same session.
import { decode } from "@auth/core/jwt";
import { authSecret } from "./auth-secret.ts";
import type { SessionClaims } from "./user-lookup.ts";

/** The cookie names next-auth uses: plain over http, `__Secure-` prefixed over https. */
export const SESSION_COOKIE_NAMES = ["authjs.session-token", "__Secure-authjs.session-token"] as const;

/** Cookies as a map (first value wins, as browsers send the most specific first). */
export function parseCookies(header: string | null): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i <= 0) continue;
    const name = part.slice(0, i).trim();
    if (!out.has(name)) out.set(name, part.slice(i + 1).trim());
  }
  return out;
}

/** The session cookie's value, joining the chunks (`name.0`, `name.1`, …) a large one is split into. */
function sessionCookie(cookies: Map<string, string>): { name: string; value: string } | undefined {
  for (const name of SESSION_COOKIE_NAMES) {
    const whole = cookies.get(name);
    if (whole) return { name, value: whole };
    let value = "";
    for (let i = 0; cookies.has(`${name}.${i}`); i++) value += cookies.get(`${name}.${i}`);
    if (value) return { name, value };
  }
  return undefined;
}

/**
 * A cookie sent by a page of another site is not a session here: a cross-site request that
 * carries an Origin must come from this host (SameSite=Lax already stops most such requests).
 */
function sameOrigin(headers: Headers): boolean {
  const origin = headers.get("origin");
  if (!origin || origin === "null") return origin === null;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return false;
  }
  const hosts = [headers.get("x-forwarded-host"), headers.get("host")].flatMap((h) => (h ? h.split(",").map((x) => x.trim()) : []));
  return hosts.includes(originHost);
}

/**
 * What the session cookie says (user, session epoch, session id, expiry), or undefined for no,
 * expired or foreign cookie. Whether the session still counts is users.ts's `sessionIsCurrent`.
 */
export async function sessionFrom(headers: Headers): Promise<SessionClaims | undefined> {
  const cookie = sessionCookie(parseCookies(headers.get("cookie")));
  if (!cookie || !sameOrigin(headers)) return undefined;
  try {
    const token = await decode({ token: cookie.value, secret: authSecret(), salt: cookie.name });
    if (typeof token?.sub !== "string" || !token.sub) return undefined;
    return {
      userId: token.sub,
      // Sessions issued before epochs existed carry none: they belong to epoch 0.
      epoch: typeof token.epoch === "number" ? token.epoch : 0,
      sessionId: typeof token.sid === "string" ? token.sid : null,
      expiresAt: typeof token.exp === "number" ? token.exp : null,
    };
  } catch {
    return undefined;
  }
}
