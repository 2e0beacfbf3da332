"use client";
// The sign-in and first-account forms: a server action does the work; this shows its errors and
// keeps the email typed so far.
import { useActionState } from "react";
import { useFormStatus } from "react-dom";

export type AuthFormState = { error?: string; email?: string };
type Action = (prev: AuthFormState, form: FormData) => Promise<AuthFormState>;

function Submit({ label, busy }: { label: string; busy: string }) {
  const { pending } = useFormStatus();
  return (
    <button type="submit" className="button auth-submit" disabled={pending}>
      {pending ? busy : label}
    </button>
  );
}

export function AuthForm({ mode, action, callbackUrl }: { mode: "login" | "setup"; action: Action; callbackUrl?: string }) {
  const [state, formAction] = useActionState(action, {});
  const setup = mode === "setup";
  return (
    <form action={formAction} className="auth-form" noValidate={false}>
      {callbackUrl ? <input type="hidden" name="callbackUrl" value={callbackUrl} /> : null}
      <label className="field">
        <span className="field-label">Email</span>
        <input name="email" type="email" autoComplete="email" required defaultValue={state.email ?? ""} autoFocus />
      </label>
      <label className="field">
        <span className="field-label">Password</span>
        <input
          name="password"
          type="password"
          autoComplete={setup ? "new-password" : "current-password"}
          required
          minLength={setup ? 8 : undefined}
        />
      </label>
      {setup ? (
        <label className="field">
          <span className="field-label">Repeat the password</span>
          <input name="confirm" type="password" autoComplete="new-password" required minLength={8} />
        </label>
      ) : null}
      {state.error ? (
        <p className="form-error" role="alert">
          {state.error}
        </p>
      ) : null}
      <Submit label={setup ? "Create account" : "Sign in"} busy={setup ? "Creating…" : "Signing in…"} />
    </form>
  );
}
