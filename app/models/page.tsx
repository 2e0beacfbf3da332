import type { Metadata } from "next";
import { CodeBlock } from "@/components/code-block";
import { EmptyState } from "@/components/empty-state";
import { Origin } from "@/components/origin";
import { PageHeader } from "@/components/page-header";

export const metadata: Metadata = { title: "Models" };

export default function ModelsPage() {
  return (
    <>
      <PageHeader
        title="Models"
        description="The model catalogue: providers, context sizes, prices per million tokens and availability."
      />
      <EmptyState title="No models listed yet">
        <p>
          The catalogue ships with the service and is loaded into its database; each model will be listed here with
          its provider, type, context size and input and output prices, which an admin can override. A model whose
          provider has no key is shown as unavailable, with the reason.
        </p>
        <p>The same list is served over HTTP, in the OpenAI format:</p>
        <CodeBlock>
          curl <Origin />
          {`/v1/models -H "Authorization: Bearer $MODEL_SERVICE_KEY"`}
        </CodeBlock>
      </EmptyState>
    </>
  );
}
