import type { Metadata, Viewport } from "next";
import Link from "next/link";
import { redirect } from "next/navigation";
import type { ReactNode } from "react";
import { logout, logoutEverywhere } from "@/app/auth-actions";
import { Nav } from "@/components/shared/nav";
import { SystemBadge } from "@/components/system/system-badge";
import { TRPCProvider } from "@/components/shared/trpc-provider";
import { UserMenu } from "@/components/accounts/user-menu";
import { onPublicPage, renderedPath } from "@/server/api/dashboard/dashboard-path";
import { dashboardUser } from "@/server/api/dashboard/dashboard-session";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "Model Service", template: "%s · Model Service" },
  description: "Self-hostable AI model gateway: usage, playground, models, API keys and vectors.",
};

export const viewport: Viewport = {
  themeColor: [
    { media: "(prefers-color-scheme: light)", color: "#f7f7f8" },
    { media: "(prefers-color-scheme: dark)", color: "#111113" },
  ],
};

export default async function RootLayout({ children }: { children: ReactNode }) {
  // Sign-in and setup pages stand alone; every other page needs a signed-in user.
  if (await onPublicPage()) {
    return (
      <html lang="en">
        <body>
          <main className="auth-page">{children}</main>
        </body>
      </html>
    );
  }
  const user = await dashboardUser();
  if (!user) {
    const path = await renderedPath();
    redirect(path === "/" ? "/login" : `/login?callbackUrl=${encodeURIComponent(path)}`);
  }
  return (
    <html lang="en">
      <body>
        <TRPCProvider>
          <div className="shell">
            <aside className="sidebar">
              <Link href="/" className="brand">
                <span className="brand-mark" aria-hidden>
                  MS
                </span>
                <span>Model Service</span>
              </Link>
              <Nav isAdmin={user.role === "admin"} />
              <div className="sidebar-footer">
                <UserMenu email={user.email} role={user.role} signOut={logout} signOutEverywhere={logoutEverywhere} />
                <SystemBadge />
              </div>
            </aside>
            <main className="content">{children}</main>
          </div>
        </TRPCProvider>
      </body>
    </html>
  );
}
