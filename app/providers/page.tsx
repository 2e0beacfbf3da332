import type { Metadata } from "next";
import { headers } from "next/headers";
import { AdminsOnly, ProvidersManager } from "@/components/catalogue/providers-manager";
import { PageHeader } from "@/components/shared/page-header";
import { callerFor, pageData } from "@/server/api/server-caller";

export const metadata: Metadata = { title: "Providers" };
export const dynamic = "force-dynamic";

export default async function ProvidersPage() {
  const caller = await callerFor(new Headers(await headers()));
  const page = await pageData(() => caller.providers.list(), ["FORBIDDEN"]);
  return (
    <>
      <PageHeader
        title="Providers"
        description="Every provider with where it is configured, its status and last error, and a connection test; add, edit and remove the ones kept in the dashboard."
      />
      {page.ok ? <ProvidersManager initialProviders={page.data} /> : <AdminsOnly />}
    </>
  );
}
