import type { Metadata } from "next";
import { headers } from "next/headers";
import { notFound } from "next/navigation";
import { TeamPage } from "@/components/accounts/teams-manager";
import { PageHeader } from "@/components/shared/page-header";
import { callerFor, pageData } from "@/server/api/server-caller";

export const metadata: Metadata = { title: "Team" };
export const dynamic = "force-dynamic";

export default async function OneTeamPage({ params }: { params: Promise<{ team: string }> }) {
  const { team: ref } = await params;
  const caller = await callerFor(new Headers(await headers()));
  const team = await pageData(() => caller.teams.get({ team: ref }), ["NOT_FOUND", "BAD_REQUEST"]);
  if (!team.ok) notFound();
  const keys = await caller.keys.list({ team: team.data.name });
  return (
    <>
      <PageHeader title={`Team ${team.data.name}`} description="Its budget and limit, its members and their roles, and its keys." />
      <TeamPage initialTeam={team.data} initialKeys={keys} />
    </>
  );
}
