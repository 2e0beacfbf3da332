import type { Metadata } from "next";
import { CodeBlock } from "@/components/code-block";
import { EmptyState, Step } from "@/components/empty-state";
import { Origin } from "@/components/origin";
import { PageHeader } from "@/components/page-header";

export const metadata: Metadata = { title: "API keys" };

export default function KeysPage() {
  return (
    <>
      <PageHeader
        title="API keys"
        description="Keys that other services and scripts use to call the gateway, with their tier, rate limit and last use."
      />
      <EmptyState title="No API keys yet">
        <p>Keys you create will be listed here. The CLI works while the server runs.</p>
        <ol className="steps">
          <Step n={1} title="Create a key">
            <CodeBlock>npm run cli -- keys create --name my-app</CodeBlock>
          </Step>
          <Step n={2} title="Send it with each request">
            <p className="step-text">
              The key is shown once. Send it as <code>Authorization: Bearer &lt;key&gt;</code> or{" "}
              <code>x-api-key: &lt;key&gt;</code>:
            </p>
            <CodeBlock>
              curl <Origin />
              {`/v1/llm/models -H "Authorization: Bearer $MODEL_SERVICE_KEY"`}
            </CodeBlock>
          </Step>
        </ol>
      </EmptyState>
    </>
  );
}
