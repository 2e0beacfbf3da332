import type { Metadata } from "next";
import { headers } from "next/headers";
import { PageHeader } from "@/components/page-header";
import { SignInToSeeVectors, VectorsManager, VectorsUnavailable } from "@/components/vectors-manager";
import { callerFor, pageData } from "@/server/api/server-caller";

export const metadata: Metadata = { title: "Vectors" };
export const dynamic = "force-dynamic";

export default async function VectorsPage() {
  const caller = await callerFor(new Headers(await headers()));
  const page = await pageData(
    () => Promise.all([caller.vectors.list(), caller.models.list({ type: "embedding" })]),
    ["UNAUTHORIZED", "SERVICE_UNAVAILABLE"],
  );
  let content;
  if (page.ok) {
    const [collections, models] = page.data;
    content = (
      <VectorsManager
        initialCollections={collections}
        embeddingModels={models.map((m) => ({
          id: m.id,
          name: m.name,
          dimensions: m.embeddingDimensions,
          available: m.available,
          reason: m.unavailableReason,
        }))}
      />
    );
  } else if (page.code === "UNAUTHORIZED") content = <SignInToSeeVectors />;
  else content = <VectorsUnavailable reason={page.message} />;
  return (
    <>
      <PageHeader title="Vectors" description="Vector collections: their size, distance and number of points, and a search to try." />
      {content}
    </>
  );
}
