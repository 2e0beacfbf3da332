import type { Metadata } from "next";
import { CodeBlock } from "@/components/code-block";
import { EmptyState, Step } from "@/components/empty-state";
import { Origin } from "@/components/origin";
import { PageHeader } from "@/components/page-header";

export const metadata: Metadata = { title: "Vectors" };

export default function VectorsPage() {
  return (
    <>
      <PageHeader
        title="Vectors"
        description="Vector collections: their size, distance and number of points, and a search to try."
      />
      <EmptyState title="No collections yet">
        <p>
          Collections appear here once created. Vectors are kept with pgvector in the service&apos;s own database, or
          in Qdrant when <code>QDRANT_URL</code> is set.
        </p>
        <ol className="steps">
          <Step n={1} title="Create a collection">
            <CodeBlock>
              curl -X POST <Origin />
              {`/v1/vector/collections \\
  -H "Authorization: Bearer $MODEL_SERVICE_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{"collection_name": "docs", "vector_size": 384, "distance": "Cosine"}'`}
            </CodeBlock>
          </Step>
          <Step n={2} title="Add points and search">
            <p className="step-text">
              <code>POST /v1/vector/points</code> stores vectors with a payload;{" "}
              <code>POST /v1/vector/search</code> finds the nearest ones.
            </p>
          </Step>
        </ol>
      </EmptyState>
    </>
  );
}
