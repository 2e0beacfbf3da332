// Dashboard sessions end when they should: signed in through next-auth's own handlers (CSRF token,
// credentials callback, the real session cookie), a copy of the cookie stops working after
// signing out, a password change, "sign out everywhere" and disabling the account — on a check
// that costs no query beyond the cached user lookup.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { NextRequest } from "next/server";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resetEnvForTests } from "../kernel/env.ts";
import { resetAuthSecretForTests } from "../access/auth-secret.ts";
import { authenticate, CLI_ACTOR } from "../access/auth.ts";
import { createApiKey } from "../features/accounts/keys.ts";
import { resetRateLimitersForTests } from "../access/rate-limits.ts";
import { userForSubject } from "../access/user-lookup.ts";
import { createUser, findUserByEmail, updateUser } from "../features/accounts/users.ts";
import { createContext } from "../trpc/init.ts";
import { appRouter } from "./trpc-root.ts";
import { testDatabases } from "../../tests/support/db.ts";
import { useServiceDatabase } from "../../tests/support/service-db.ts";
import { handlers } from "./dashboard/next-auth.ts";

const AUTH_SECRET = "sessions-test-secret-0123456789abcdef";
const JWT_SECRET = "sessions-test-platform-jwt-secret-0123";
const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-sessions-"));
beforeAll(() => {
  Object.assign(process.env, { AUTH_SECRET, JWT_SECRET, DATA_DIR: dataDir, LOG_LEVEL: "silent", AUTH_URL: "http://gw.local" });
  delete process.env.REDIS_URL;
  resetEnvForTests();
  resetAuthSecretForTests();
  resetRateLimitersForTests();
});
afterAll(() => {
  delete process.env.AUTH_URL;
  rmSync(dataDir, { recursive: true, force: true });
});

const ORIGIN = "http://gw.local";
const SESSION_COOKIE = "authjs.session-token";

/** Cookies as a browser keeps them, from Set-Cookie headers. */
class Jar {
  readonly cookies = new Map<string, string>();
  take(res: Response) {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const i = pair!.indexOf("=");
      const name = pair!.slice(0, i);
      const value = pair!.slice(i + 1);
      if (value === "" || /max-age=0/i.test(c) || /expires=thu, 01 jan 1970/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
  /** The session cookie alone, as someone who copied it would send it. */
  session() {
    const v = this.cookies.get(SESSION_COOKIE);
    return v ? `${SESSION_COOKIE}=${v}` : "";
  }
}

async function authRequest(method: "GET" | "POST", pathname: string, jar: Jar, form?: Record<string, string>): Promise<Response> {
  const req = new NextRequest(`${ORIGIN}${pathname}`, {
    method,
    headers: { cookie: jar.header(), host: "gw.local", ...(form ? { "content-type": "application/x-www-form-urlencoded" } : {}) },
    body: form ? new URLSearchParams(form).toString() : undefined,
  });
  const res = await (method === "GET" ? handlers.GET(req) : handlers.POST(req));
  jar.take(res);
  return res;
}

async function csrf(jar: Jar): Promise<string> {
  const res = await authRequest("GET", "/api/auth/csrf", jar);
  return ((await res.json()) as { csrfToken: string }).csrfToken;
}

/** Signs in with the sign-in form's POST; the jar then holds the session cookie. */
async function signIn(email: string, password: string): Promise<Jar> {
  const jar = new Jar();
  const csrfToken = await csrf(jar);
  await authRequest("POST", "/api/auth/callback/credentials", jar, { email, password, csrfToken, callbackUrl: `${ORIGIN}/` });
  return jar;
}

async function signOut(jar: Jar): Promise<void> {
  const csrfToken = await csrf(jar);
  await authRequest("POST", "/api/auth/signout", jar, { csrfToken, callbackUrl: `${ORIGIN}/login` });
}

const whoIs = async (cookie: string) => (await authenticate(new Headers({ cookie, host: "gw.local" }))).kind;

describe.each(testDatabases())("dashboard sessions on $kind", ({ kind }) => {
  const { queries } = useServiceDatabase(kind);
  let n = 0;
  const PASSWORD = "the-first-password-1";
  const account = async () => (await createUser({ email: `s${++n}-${kind}@example.com`, password: PASSWORD })).email!;

  it("signing in gives a session cookie that authenticates, checked without a query beyond the cached user", async () => {
    const email = await account();
    const jar = await signIn(email, PASSWORD);
    expect(jar.session()).not.toBe("");
    expect(await whoIs(jar.session())).toBe("session");
    queries.reset();
    for (let i = 0; i < 20; i++) expect(await whoIs(jar.session())).toBe("session");
    expect(queries.total()).toBeLessThanOrEqual(1); // at most one background refresh of the cached user
  });

  it("a copy of the cookie stops working once that session signs out; the account's other sessions go on", async () => {
    const email = await account();
    const laptop = await signIn(email, PASSWORD);
    const phone = await signIn(email, PASSWORD);
    const copied = laptop.session();
    await signOut(laptop);
    expect(laptop.session()).toBe("");
    expect(await whoIs(copied)).toBe("anonymous");
    expect(await whoIs(phone.session())).toBe("session");
  });

  it("a new password ends every session", async () => {
    const email = await account();
    const jar = await signIn(email, PASSWORD);
    const copied = jar.session();
    await updateUser((await findUserByEmail(email))!.id, { password: "the-second-password-2" });
    expect(await whoIs(copied)).toBe("anonymous");
    expect(await whoIs(jar.session())).toBe("anonymous");
    // The old password no longer signs in; the new one does, and that session counts.
    expect((await signIn(email, PASSWORD)).session()).toBe("");
    expect(await whoIs((await signIn(email, "the-second-password-2")).session())).toBe("session");
  });

  it("auth.signOutEverywhere ends every session of the account (and not other accounts')", async () => {
    const email = await account();
    const a = await signIn(email, PASSWORD);
    const b = await signIn(email, PASSWORD);
    const someoneElse = await signIn(await account(), PASSWORD);
    const url = new URL("http://gw.local/api/trpc/auth.signOutEverywhere");
    const res = await fetchRequestHandler({
      endpoint: "/api/trpc",
      req: new Request(url, {
        method: "POST",
        headers: { cookie: a.session(), host: "gw.local", "content-type": "application/json" },
        body: JSON.stringify({}),
      }),
      router: appRouter,
      createContext,
    });
    expect(res.status).toBe(200);
    expect(await whoIs(a.session())).toBe("anonymous");
    expect(await whoIs(b.session())).toBe("anonymous");
    expect(await whoIs(someoneElse.session())).toBe("session");
    // Signing in again works as before.
    expect(await whoIs((await signIn(email, PASSWORD)).session())).toBe("session");
  });

  it("disabling an account ends its sessions and refuses its sign-in, platform JWTs and API keys; enabling lets it back", async () => {
    const email = await account();
    const jar = await signIn(email, PASSWORD);
    const user = (await findUserByEmail(email))!;
    const { key } = await createApiKey(CLI_ACTOR, { name: "disabled's key", userEmail: email });
    await updateUser(user.id, { disabled: true });
    expect(await whoIs(jar.session())).toBe("anonymous");
    expect((await signIn(email, PASSWORD)).session()).toBe("");
    await expect(authenticate(new Headers({ "x-api-key": key }))).rejects.toMatchObject({
      status: 401,
      message: expect.stringMatching(/disabled/),
    });
    await updateUser(user.id, { disabled: false });
    expect(await whoIs((await signIn(email, PASSWORD)).session())).toBe("session");
    expect((await authenticate(new Headers({ "x-api-key": key }))).kind).toBe("apiKey");
    // The session from before stays ended.
    expect(await whoIs(jar.session())).toBe("anonymous");
  });

  it("a disabled platform user's JWTs are refused", async () => {
    const subject = `svc-${kind}-${++n}`;
    const token = await new SignJWT({ sub: subject })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(JWT_SECRET));
    expect((await authenticate(new Headers({ authorization: `Bearer ${token}` }))).kind).toBe("jwt");
    await updateUser((await userForSubject(subject)).id, { disabled: true });
    await expect(authenticate(new Headers({ authorization: `Bearer ${token}` }))).rejects.toMatchObject({ status: 401 });
  });
});
