import { headers } from "next/headers";
import type { ReactNode } from "react";
import { BudgetAlertsBanner } from "@/components/budget-alerts";
import { PageHeader } from "@/components/page-header";
import { UsageDashboard } from "@/components/usage-dashboard";
import { NoUsageYet, SignInToSeeUsage } from "@/components/usage-empty";
import { addDays, defaultRange, statsInput } from "@/components/usage-format";
import { callerFor, pageData } from "@/server/api/server-caller";

export const dynamic = "force-dynamic";

export default async function UsagePage() {
  const caller = await callerFor(new Headers(await headers()));
  // The first view (the last 30 days in UTC) comes with the page; the dashboard fetches the rest.
  const input = statsInput(defaultRange("UTC"));
  const page = await pageData(
    () =>
      Promise.all([
        caller.auth.me(),
        caller.usage.recent({ limit: 1, start: addDays(input.end, -730), end: input.end }),
        caller.usage.stats(input),
      ]),
    ["UNAUTHORIZED"],
  );
  let content: ReactNode = <SignInToSeeUsage />;
  if (page.ok) {
    const [me, latest, stats] = page.data;
    content = (
      <>
        <BudgetAlertsBanner />
        {latest.items.length === 0 ? <NoUsageYet /> : <UsageDashboard isAdmin={me.role === "admin"} initial={{ input, stats }} />}
      </>
    );
  }
  return (
    <>
      <PageHeader title="Usage" description="Daily cost, requests and tokens per model, latency and errors, per API key and per user." />
      {content}
    </>
  );
}
