import type { Metadata } from "next";
import { headers } from "next/headers";
import { AuditAdminsOnly, AuditLog } from "@/components/accounts/audit-log";
import { PageHeader } from "@/components/shared/page-header";
import { callerFor, pageData } from "@/server/api/server-caller";

export const metadata: Metadata = { title: "Audit log" };
export const dynamic = "force-dynamic";

export default async function AuditPage() {
  const caller = await callerFor(new Headers(await headers()));
  const page = await pageData(() => caller.audit.list({ limit: 50 }), ["FORBIDDEN"]);
  return (
    <>
      <PageHeader
        title="Audit log"
        description="Who changed what and when: keys, users, providers, models, budget alerts and sign-ins, with each change's before and after (secrets masked)."
      />
      {page.ok ? <AuditLog initialPage={page.data} /> : <AuditAdminsOnly />}
    </>
  );
}
