import "server-only";
// What the dashboard's server components and server actions need about the signed-in person:
// who it is (from the same `authenticate` that REST and tRPC use), whether the one-time setup is
// still open, and the sign-in, setup and sign-out actions (app/auth-actions.ts wraps them).
import { AuthError, CredentialsSignin } from "next-auth";
import { headers } from "next/headers";
import type { Role } from "../../../lib/access.ts";
import { safeCallbackUrl } from "../../../lib/safe-path.ts";
import { AppError } from "../../kernel/errors.ts";
import { getLogger } from "../../kernel/logger.ts";
import { authenticate } from "../../access/auth.ts";
import { hasDashboardUser } from "../../access/user-lookup.ts";
import { createFirstAdmin, endAllSessions } from "../../features/accounts/index.ts";
import { signIn, signOut } from "./next-auth.ts";

export type DashboardUser = { id: string; email: string | null; role: Role };

/** The signed-in dashboard user, or null (no, expired or foreign session; deleted user). */
export async function dashboardUser(): Promise<DashboardUser | null> {
  let who;
  try {
    who = await authenticate(new Headers(await headers()));
  } catch {
    return null;
  }
  return who.kind === "session" ? { id: who.userId, email: who.email, role: who.role } : null;
}

/** True while no dashboard account exists: /setup is open and /login sends people there. */
export async function setupNeeded(): Promise<boolean> {
  return !(await hasDashboardUser());
}

export type FormState = { error?: string; email?: string };

/** Signs in with email and password; on success next-auth redirects (a thrown NEXT_REDIRECT). */
export async function loginAction(_prev: FormState, form: FormData): Promise<FormState> {
  const email = String(form.get("email") ?? "").trim();
  const password = String(form.get("password") ?? "");
  if (!email || !password) return { error: "Enter your email and password.", email };
  try {
    await signIn("credentials", { email, password, redirectTo: safeCallbackUrl(form.get("callbackUrl")) });
  } catch (e) {
    if (e instanceof CredentialsSignin)
      return { error: "Wrong email or password, or too many attempts: try again in a few minutes.", email };
    if (e instanceof AuthError) return { error: "Sign-in failed. Try again.", email };
    throw e;
  }
  return {};
}

/** Creates the first account (an admin) while none exists, then signs it in. */
export async function setupAction(_prev: FormState, form: FormData): Promise<FormState> {
  const email = String(form.get("email") ?? "").trim();
  const password = String(form.get("password") ?? "");
  if (password !== String(form.get("confirm") ?? "")) return { error: "The two passwords differ.", email };
  try {
    await createFirstAdmin({ email, password });
  } catch (e) {
    if (e instanceof AppError && e.status < 500) return { error: e.message, email };
    getLogger().error({ err: e }, "setup failed");
    return { error: "Setup failed; see the server log.", email };
  }
  await signIn("credentials", { email, password, redirectTo: "/" });
  return {};
}

/** Signs this browser out; next-auth's signOut event ends the session for good (next-auth.ts). */
export async function logoutAction(): Promise<void> {
  await signOut({ redirectTo: "/login" });
}

/** Ends every session of the signed-in user, on every device, this one included. */
export async function signOutEverywhereAction(): Promise<void> {
  const who = await dashboardUser();
  if (who) await endAllSessions(who.id);
  await signOut({ redirectTo: "/login" });
}

export async function githubLoginAction(form: FormData): Promise<void> {
  await signIn("github", { redirectTo: safeCallbackUrl(form.get("callbackUrl")) });
}

export async function oidcLoginAction(form: FormData): Promise<void> {
  await signIn("oidc", { redirectTo: safeCallbackUrl(form.get("callbackUrl")) });
}
