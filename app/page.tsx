import { headers } from "next/headers";
import { TRPCError } from "@trpc/server";
import type { ReactNode } from "react";
import { BudgetAlertsBanner } from "@/components/budget-alerts";
import { PageHeader } from "@/components/page-header";
import { UsageDashboard } from "@/components/usage-dashboard";
import { NoUsageYet, SignInToSeeUsage } from "@/components/usage-empty";
import { addDays, defaultRange, statsInput } from "@/components/usage-format";
import { callerFor } from "@/server/api/server-caller";

export const dynamic = "force-dynamic";

export default async function UsagePage() {
  const caller = await callerFor(new Headers(await headers()));
  let content: ReactNode;
  try {
    // The first view (the last 30 days in UTC) comes with the page; the dashboard fetches the rest.
    const input = statsInput(defaultRange("UTC"));
    const [me, latest, stats] = await Promise.all([
      caller.auth.me(),
      caller.usage.recent({ limit: 1, start: addDays(input.end, -730), end: input.end }),
      caller.usage.stats(input),
    ]);
    content = (
      <>
        <BudgetAlertsBanner />
        {latest.items.length === 0 ? <NoUsageYet /> : <UsageDashboard isAdmin={me.role === "admin"} initial={{ input, stats }} />}
      </>
    );
  } catch (error) {
    if (!(error instanceof TRPCError && error.code === "UNAUTHORIZED")) throw error;
    content = <SignInToSeeUsage />;
  }
  return (
    <>
      <PageHeader
        title="Usage"
        description="Daily cost, requests and tokens per model, latency and errors, per API key and per user."
      />
      {content}
    </>
  );
}
