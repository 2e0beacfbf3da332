import type { Metadata } from "next";
import { headers } from "next/headers";
import { TRPCError } from "@trpc/server";
import { PageHeader } from "@/components/page-header";
import { SignInToSeeVectors, VectorsManager, VectorsUnavailable } from "@/components/vectors-manager";
import { callerFor } from "@/server/api/server-caller";

export const metadata: Metadata = { title: "Vectors" };
export const dynamic = "force-dynamic";

export default async function VectorsPage() {
  const caller = await callerFor(new Headers(await headers()));
  let content;
  try {
    const [collections, models] = await Promise.all([caller.vectors.list(), caller.models.list({ type: "embedding" })]);
    content = (
      <VectorsManager
        initialCollections={collections}
        embeddingModels={models.map((m) => ({ id: m.id, name: m.name, dimensions: m.embeddingDimensions, available: m.available, reason: m.unavailableReason }))}
      />
    );
  } catch (error) {
    if (!(error instanceof TRPCError)) throw error;
    if (error.code === "UNAUTHORIZED") content = <SignInToSeeVectors />;
    else if (error.code === "SERVICE_UNAVAILABLE") content = <VectorsUnavailable reason={error.message} />;
    else throw error;
  }
  return (
    <>
      <PageHeader
        title="Vectors"
        description="Vector collections: their size, distance and number of points, and a search to try."
      />
      {content}
    </>
  );
}
