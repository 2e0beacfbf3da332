import type { Metadata } from "next";
import { headers } from "next/headers";
import { ModelsCatalogue, SignInToSeeCatalogue } from "@/components/models-catalogue";
import { PageHeader } from "@/components/page-header";
import { callerFor, pageData } from "@/server/api/server-caller";

export const metadata: Metadata = { title: "Models" };
export const dynamic = "force-dynamic";

export default async function ModelsPage() {
  const caller = await callerFor(new Headers(await headers()));
  const page = await pageData(() => Promise.all([caller.models.list(), caller.auth.me()]), ["UNAUTHORIZED"]);
  const content = page.ok ? (
    <ModelsCatalogue initialModels={page.data[0]} isAdmin={page.data[1].role === "admin"} />
  ) : (
    <SignInToSeeCatalogue />
  );
  return (
    <>
      <PageHeader
        title="Models"
        description="The model catalogue: providers, context sizes, prices per 1M and per 1K tokens, capabilities and availability."
      />
      {content}
    </>
  );
}
