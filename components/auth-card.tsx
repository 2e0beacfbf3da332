import type { ReactNode } from "react";

/** The frame of the sign-in and setup pages: the brand, a title, a short text and the form. */
export function AuthCard({
  title,
  intro,
  children,
  footer,
}: {
  title: string;
  intro?: ReactNode;
  children: ReactNode;
  footer?: ReactNode;
}) {
  return (
    <section className="auth-card" aria-labelledby="auth-title">
      <div className="brand auth-brand">
        <span className="brand-mark" aria-hidden>
          MS
        </span>
        <span>Model Service</span>
      </div>
      <h1 id="auth-title">{title}</h1>
      {intro ? <p className="auth-intro">{intro}</p> : null}
      {children}
      {footer ? <div className="auth-footer">{footer}</div> : null}
    </section>
  );
}
