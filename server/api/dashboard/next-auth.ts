import "server-only";
// Dashboard sign-in with next-auth v5: email + password (Credentials, checked against the users
// service's scrypt hashes), optionally GitHub for existing users (AUTH_GITHUB_ID/SECRET), optionally
// single sign-on with any OpenID Connect provider (AUTH_OIDC_*: who gets in, as whom, and in which
// teams is features/accounts/sso.ts), and JWT sessions in an encrypted cookie. The cookie is read back by `authenticate()` (through
// access/session-token.ts), so REST handlers and tRPC see the same session as the pages.
//
// The configuration is built lazily, per request: the session secret (AUTH_SECRET, or the one
// generated into DATA_DIR) must not be read while `next build` imports this module.
import { randomUUID } from "node:crypto";
import NextAuth, { type NextAuthConfig } from "next-auth";
import type { NextRequest } from "next/server";
import Credentials from "next-auth/providers/credentials";
import GitHub from "next-auth/providers/github";
import { sameOriginPath } from "../../../lib/safe-path.ts";
import { loadEnv } from "../../kernel/env.ts";
import { getLogger } from "../../kernel/logger.ts";
import { authSecret } from "../../access/auth-secret.ts";
import { signInWithPassword } from "../../features/accounts/index.ts";
import { getUser, sessionIsCurrent } from "../../access/user-lookup.ts";
import { endSession, findUserByEmail, oidcConfigured, signInWithOidc } from "../../features/accounts/index.ts";
import { clientAddressFrom } from "../../access/client-address.ts";

export const SESSION_MAX_AGE_SECONDS = 7 * 24 * 3600;
/** Marks a GitHub account that matches no user here: such a sign-in is refused. */
const UNLINKED = "unlinked:";
/** Marks a single sign-on that sso.ts refused (domain, sign-up off, disabled): such a sign-in is refused. */
const REFUSED = "refused:";

function providers(): NextAuthConfig["providers"] {
  const list: NextAuthConfig["providers"] = [
    Credentials({
      credentials: { email: { label: "Email", type: "email" }, password: { label: "Password", type: "password" } },
      async authorize(credentials, request) {
        const email = typeof credentials?.email === "string" ? credentials.email : "";
        const password = typeof credentials?.password === "string" ? credentials.password : "";
        if (!email || !password) return null;
        // Limited per client address and per account (features/accounts/login-limits.ts).
        const user = await signInWithPassword(email, password, clientAddressFrom(request.headers));
        return user ? { id: user.id, email: user.email, name: user.name } : null;
      },
    }),
  ];
  const env = loadEnv();
  if (env.AUTH_GITHUB_ID && env.AUTH_GITHUB_SECRET) {
    list.push(
      GitHub({
        clientId: env.AUTH_GITHUB_ID,
        clientSecret: env.AUTH_GITHUB_SECRET,
        // Only people who already have an account here (same email) may use GitHub to sign in.
        async profile(profile) {
          const user = profile.email ? await findUserByEmail(profile.email) : null;
          return { id: user?.id ?? `${UNLINKED}${profile.id}`, email: profile.email, name: profile.name ?? profile.login };
        },
      }),
    );
  }
  if (oidcConfigured()) {
    list.push({
      id: "oidc",
      name: env.AUTH_OIDC_NAME,
      type: "oidc",
      issuer: env.AUTH_OIDC_ISSUER,
      clientId: env.AUTH_OIDC_CLIENT_ID,
      clientSecret: env.AUTH_OIDC_CLIENT_SECRET,
      authorization: { params: { scope: env.AUTH_OIDC_SCOPE } },
      checks: ["pkce", "state", "nonce"],
      // The ID token's claims, verified by next-auth (issuer, audience, signature, nonce): sso.ts decides.
      async profile(claims) {
        const result = await signInWithOidc(claims as Record<string, unknown>);
        return result.ok ? { id: result.userId, email: result.email, name: result.name } : { id: `${REFUSED}${String(claims.sub)}` };
      },
    });
  }
  return list;
}

/**
 * Our user's id for a sign-in. Credentials' authorize() returns it as the user's id; an OAuth or
 * OpenID Connect provider's profile() result reaches the callbacks as `account.providerAccountId`
 * (next-auth gives `user` a random id of its own for those).
 */
function ourUserId(
  user: { id?: string | null } | undefined,
  account: { type: string; providerAccountId: string } | null | undefined,
): string {
  if (account && (account.type === "oauth" || account.type === "oidc")) return account.providerAccountId;
  return String(user?.id ?? "");
}

function config(): NextAuthConfig {
  return {
    secret: authSecret(),
    // Self-hosted behind our own node:http host (and often a reverse proxy): trust the Host header.
    trustHost: true,
    session: { strategy: "jwt", maxAge: SESSION_MAX_AGE_SECONDS },
    pages: { signIn: "/login", error: "/login" },
    providers: providers(),
    callbacks: {
      async signIn({ user, account }) {
        const id = ourUserId(user, account);
        if (id.startsWith(UNLINKED) || id.startsWith(REFUSED)) return false;
        // A disabled account does not sign in by GitHub or single sign-on either (the password path refuses it already).
        const record = id ? await getUser(id) : null;
        return Boolean(record && !record.disabledAt);
      },
      // Only this site's own paths, by the same rule as the sign-in page (lib/safe-path.ts).
      redirect({ url, baseUrl }) {
        let path: unknown = url;
        if (!url.startsWith("/")) {
          try {
            const parsed = new URL(url);
            path = parsed.origin === new URL(baseUrl).origin ? `${parsed.pathname}${parsed.search}${parsed.hash}` : null;
          } catch {
            path = null;
          }
        }
        return `${baseUrl.replace(/\/$/, "")}${sameOriginPath(path) ?? "/"}`;
      },
      async jwt({ token, user, account }) {
        if (user) {
          // A new session: under the user's current session epoch, with an id of its own, so that
          // signing out can end just this one and a new password or "sign out everywhere" all of them.
          const id = ourUserId(user, account);
          const record = await getUser(id);
          token.sub = id;
          token.epoch = record?.sessions.epoch ?? 0;
          token.sid = randomUUID();
          return token;
        }
        // A session being read or renewed: one that has been ended is not renewed, its cookie is cleared.
        if (typeof token.sub === "string") {
          const record = await getUser(token.sub);
          const claims = {
            userId: token.sub,
            epoch: typeof token.epoch === "number" ? token.epoch : 0,
            sessionId: typeof token.sid === "string" ? token.sid : null,
            expiresAt: null,
          };
          if (!record || !sessionIsCurrent(record, claims)) return null;
        }
        return token;
      },
      session({ session, token }) {
        if (token.sub) session.user.id = token.sub;
        return session;
      },
    },
    events: {
      // Signing out (our server action, or next-auth's own sign-out page) ends that session for
      // good: a copy of the cookie stops working too, not only the browser's.
      async signOut(message) {
        const token = "token" in message ? message.token : null;
        if (!token || typeof token.sub !== "string") return;
        await endSession({
          userId: token.sub,
          epoch: typeof token.epoch === "number" ? token.epoch : 0,
          sessionId: typeof token.sid === "string" ? token.sid : null,
          expiresAt: typeof token.exp === "number" ? token.exp : null,
        }).catch((err: unknown) => getLogger().warn({ err }, "could not end the session on sign-out; the cookie is cleared all the same"));
      },
    },
    logger: {
      // A wrong password is routine, not an error; nothing here ever carries a password.
      error: (error) => {
        const name = (error as { type?: string }).type ?? error.name;
        if (name === "CredentialsSignin") getLogger().info({ event: "sign_in_refused" }, "dashboard sign-in refused");
        else getLogger().warn({ err: { name, message: error.message } }, "dashboard auth error");
      },
      warn: (code) => getLogger().debug({ code }, "next-auth warning"),
      debug: () => {},
    },
  };
}

const nextAuth = NextAuth(() => config());
export const { auth, signIn, signOut } = nextAuth;

/**
 * The request as next-auth's routes must see it: at the address the browser used. Next gives
 * route handlers a URL on its own listening address (http://localhost:<port>), while the sign-in
 * server actions build theirs from the Host header (`trustHost`); an OAuth or OpenID Connect
 * provider then sees two different redirect URIs for one sign-in (the authorization's and the code
 * exchange's) and refuses the second. Both now come from the same Host / X-Forwarded-* headers,
 * unless AUTH_URL fixes the address (next-auth reads that itself). (Without this, GitHub sign-in
 * behind any host name but localhost had the same mismatch.)
 */
export function atBrowserAddress(req: NextRequest): NextRequest {
  if (process.env.AUTH_URL || process.env.NEXTAUTH_URL) return req;
  const host = req.headers.get("x-forwarded-host") ?? req.headers.get("host");
  if (!host) return req;
  const original = new URL(req.url);
  const proto = req.headers.get("x-forwarded-proto");
  const protocol = proto === "http" || proto === "https" ? `${proto}:` : original.protocol;
  let url: URL;
  try {
    // Built whole: setting `host` alone would keep Next's port when the browser's address has none.
    url = new URL(`${protocol}//${host}${original.pathname}${original.search}`);
  } catch {
    return req;
  }
  // A plain Request: a NextRequest would turn 127.0.0.1 back into localhost (NextURL does).
  return url.href === req.url ? req : (new Request(url.href, req) as unknown as NextRequest);
}

export const handlers = {
  GET: (req: NextRequest) => nextAuth.handlers.GET(atBrowserAddress(req)),
  POST: (req: NextRequest) => nextAuth.handlers.POST(atBrowserAddress(req)),
};

/** The single sign-on button's label, when single sign-on is configured (the login page shows it). */
export function oidcSignInName(): string | null {
  return oidcConfigured() ? loadEnv().AUTH_OIDC_NAME : null;
}

/** Whether GitHub sign-in is configured (the login page shows its button). */
export function githubSignInEnabled(): boolean {
  const env = loadEnv();
  return Boolean(env.AUTH_GITHUB_ID && env.AUTH_GITHUB_SECRET);
}
