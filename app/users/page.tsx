import type { Metadata } from "next";
import { headers } from "next/headers";
import { UsersAdminsOnly, UsersManager } from "@/components/accounts/users-manager";
import { PageHeader } from "@/components/shared/page-header";
import { callerFor, pageData } from "@/server/api/server-caller";

export const metadata: Metadata = { title: "Users" };
export const dynamic = "force-dynamic";

export default async function UsersPage() {
  const caller = await callerFor(new Headers(await headers()));
  const page = await pageData(() => Promise.all([caller.users.list(), caller.auth.me()]), ["FORBIDDEN"]);
  return (
    <>
      <PageHeader
        title="Users"
        description="Dashboard accounts: create one, change a role or a budget, disable or enable it. Every change is in the audit log."
      />
      {page.ok ? <UsersManager initialUsers={page.data[0]} selfId={page.data[1].userId} /> : <UsersAdminsOnly />}
    </>
  );
}
