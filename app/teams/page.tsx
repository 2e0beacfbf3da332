import type { Metadata } from "next";
import { headers } from "next/headers";
import { TeamsManager } from "@/components/accounts/teams-manager";
import { PageHeader } from "@/components/shared/page-header";
import { callerFor } from "@/server/api/server-caller";

export const metadata: Metadata = { title: "Teams" };
export const dynamic = "force-dynamic";

export default async function TeamsPage() {
  const caller = await callerFor(new Headers(await headers()));
  const [teams, me] = await Promise.all([caller.teams.list(), caller.auth.me()]);
  return (
    <>
      <PageHeader
        title="Teams"
        description="Teams share keys, a budget and a requests-per-minute limit; owners manage members, members create keys, viewers see the team's keys and usage."
      />
      <TeamsManager initialTeams={teams} isAdmin={me.role === "admin"} />
    </>
  );
}
