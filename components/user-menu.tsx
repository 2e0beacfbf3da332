// Who is signed in, and the sign-out button (a form posting to the sign-out server action).
export function UserMenu({ email, role, signOut }: { email: string | null; role: "admin" | "user"; signOut: () => Promise<void> }) {
  return (
    <div className="user-menu" data-testid="user-menu">
      <div className="user-menu-who">
        <span className="user-menu-email" title={email ?? undefined}>
          {email ?? "Signed in"}
        </span>
        {role === "admin" ? <span className="pill">admin</span> : null}
      </div>
      <form action={signOut}>
        <button type="submit" className="link-button">
          Sign out
        </button>
      </form>
    </div>
  );
}
