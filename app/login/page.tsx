import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { login, loginWithGitHub, loginWithOidc } from "@/app/auth-actions";
import { AuthCard } from "@/components/accounts/auth-card";
import { AuthForm } from "@/components/accounts/auth-form";
import { safeCallbackUrl } from "@/lib/safe-path";
import { dashboardUser, setupNeeded } from "@/server/api/dashboard/dashboard-session";
import { githubSignInEnabled, oidcSignInName } from "@/server/api/dashboard/next-auth";

export const metadata: Metadata = { title: "Sign in" };
export const dynamic = "force-dynamic";

export default async function LoginPage({ searchParams }: { searchParams: Promise<{ callbackUrl?: string; error?: string }> }) {
  const params = await searchParams;
  const sso = oidcSignInName();
  // With single sign-on the first person may come from the provider (AUTH_OIDC_ALLOW_SIGNUP); /setup stays open until someone exists.
  if (!sso && (await setupNeeded())) redirect("/setup");
  const callbackUrl = safeCallbackUrl(params.callbackUrl);
  if (await dashboardUser()) redirect(callbackUrl);
  return (
    <AuthCard
      title="Sign in"
      intro="Use the account an administrator created for you (or the one from the setup page)."
      footer={
        sso || githubSignInEnabled() ? (
          <>
            {sso ? (
              <form action={loginWithOidc}>
                <input type="hidden" name="callbackUrl" value={callbackUrl} />
                <button type="submit" className="button button-secondary auth-submit">
                  Continue with {sso}
                </button>
              </form>
            ) : null}
            {githubSignInEnabled() ? (
              <form action={loginWithGitHub}>
                <input type="hidden" name="callbackUrl" value={callbackUrl} />
                <button type="submit" className="button button-secondary auth-submit">
                  Sign in with GitHub
                </button>
              </form>
            ) : null}
          </>
        ) : null
      }
    >
      {params.error ? (
        <p className="form-error" role="alert">
          {params.error === "AccessDenied" ? "That account has no access here." : "Sign-in failed. Try again."}
        </p>
      ) : null}
      <AuthForm mode="login" action={login} callbackUrl={callbackUrl} />
    </AuthCard>
  );
}
