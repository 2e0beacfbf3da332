import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { setup } from "@/app/auth-actions";
import { AuthCard } from "@/components/auth-card";
import { AuthForm } from "@/components/auth-form";
import { setupNeeded } from "@/server/api/dashboard/dashboard-session";

export const metadata: Metadata = { title: "Set up" };
export const dynamic = "force-dynamic";

/** The one-time setup: open only while no dashboard account exists. */
export default async function SetupPage() {
  if (!(await setupNeeded())) redirect("/login");
  return (
    <AuthCard
      title="Create the first account"
      intro={
        <>
          No one can sign in yet. This account will be an <strong>admin</strong>; this page closes as soon as it exists. (The CLI does the
          same: <code>npm run cli -- users create --email … --password … --admin</code>.)
        </>
      }
    >
      <AuthForm mode="setup" action={setup} />
    </AuthCard>
  );
}
