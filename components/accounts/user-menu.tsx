// Who is signed in, and the sign-out buttons (forms posting to the sign-out server actions): this
// browser, or every session of the account on every device.
import type { Role } from "@/lib/access";

export function UserMenu({
  email,
  role,
  signOut,
  signOutEverywhere,
}: {
  email: string | null;
  role: Role;
  signOut: () => Promise<void>;
  signOutEverywhere: () => Promise<void>;
}) {
  return (
    <div className="user-menu" data-testid="user-menu">
      <div className="user-menu-who">
        <span className="user-menu-email" title={email ?? undefined}>
          {email ?? "Signed in"}
        </span>
        {role === "admin" ? <span className="pill">admin</span> : null}
      </div>
      <div className="user-menu-actions">
        <form action={signOut}>
          <button type="submit" className="link-button">
            Sign out
          </button>
        </form>
        <form action={signOutEverywhere}>
          <button type="submit" className="link-button" title="End every session of this account, on every device">
            Sign out everywhere
          </button>
        </form>
      </div>
    </div>
  );
}
