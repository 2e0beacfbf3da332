import type { Metadata } from "next";
import { CodeBlock } from "@/components/code-block";
import { EmptyState, Step } from "@/components/empty-state";
import { PageHeader } from "@/components/page-header";

export const metadata: Metadata = { title: "Playground" };

export default function PlaygroundPage() {
  return (
    <>
      <PageHeader
        title="Playground"
        description="Try a prompt on any model and compare the answers, with tokens, cost and latency for each run."
      />
      <EmptyState title="No provider to try yet">
        <p>
          The prompt editor and model picker appear here. They need at least one provider: models whose provider has
          no key are listed as unavailable.
        </p>
        <ol className="steps">
          <Step n={1} title={<>Add a provider key to <code>.env</code></>}>
            <CodeBlock>
              {`OPENAI_API_KEY=sk-...
ANTHROPIC_API_KEY=sk-ant-...
# or any OpenAI-compatible server:
OPENAI_BASE_URL=http://localhost:11434/v1`}
            </CodeBlock>
          </Step>
          <Step n={2} title="Restart the service">
            <CodeBlock>npm run dev</CodeBlock>
          </Step>
        </ol>
      </EmptyState>
    </>
  );
}
