import type { Metadata } from "next";
import { headers } from "next/headers";
import { TRPCError } from "@trpc/server";
import { ModelsCatalogue, SignInToSeeCatalogue } from "@/components/models-catalogue";
import { PageHeader } from "@/components/page-header";
import { callerFor } from "@/server/api/server-caller";

export const metadata: Metadata = { title: "Models" };
export const dynamic = "force-dynamic";

export default async function ModelsPage() {
  const caller = await callerFor(new Headers(await headers()));
  let content;
  try {
    const [models, me] = await Promise.all([caller.models.list(), caller.auth.me()]);
    content = <ModelsCatalogue initialModels={models} isAdmin={me.role === "admin"} />;
  } catch (error) {
    if (!(error instanceof TRPCError && error.code === "UNAUTHORIZED")) throw error;
    content = <SignInToSeeCatalogue />;
  }
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
