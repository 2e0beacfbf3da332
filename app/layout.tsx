import type { Metadata, Viewport } from "next";
import Link from "next/link";
import type { ReactNode } from "react";
import { Nav } from "@/components/nav";
import { SystemBadge } from "@/components/system-badge";
import { TRPCProvider } from "@/components/trpc-provider";
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

export default function RootLayout({ children }: { children: ReactNode }) {
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
              <Nav />
              <div className="sidebar-footer">
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
