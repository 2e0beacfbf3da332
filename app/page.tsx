import { headers } from "next/headers";
import type { ReactNode } from "react";
import { BudgetAlertsBanner } from "@/components/budgets/budget-alerts";
import { PageHeader } from "@/components/shared/page-header";
import { UsageDashboard } from "@/components/usage/usage-dashboard";
import { NoUsageYet, SignInToSeeUsage } from "@/components/usage/usage-empty";
import { viewFromParams, viewInput } from "@/components/usage/usage-view";
import { addDays } from "@/lib/dates";
import { callerFor, pageData } from "@/server/api/server-caller";

export const dynamic = "force-dynamic";

export default async function UsagePage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const caller = await callerFor(new Headers(await headers()));
  // The first view (the URL's, by default the last 30 days in UTC) comes with the page; the dashboard fetches the rest.
  const view = viewFromParams(await searchParams);
  const input = viewInput(view);
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
        {latest.items.length === 0 ? (
          <NoUsageYet isAdmin={me.role === "admin"} />
        ) : (
          <UsageDashboard isAdmin={me.role === "admin"} initial={{ view, input, stats }} />
        )}
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
