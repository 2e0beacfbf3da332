import { CodeBlock } from "@/components/code-block";
import { EmptyState, Step } from "@/components/empty-state";
import { Origin } from "@/components/origin";
import { PageHeader } from "@/components/page-header";

export default function UsagePage() {
  return (
    <>
      <PageHeader
        title="Usage"
        description="Daily cost, requests and tokens per model, latency and errors, per API key and per user."
      />
      <EmptyState title="No requests yet">
        <p>
          Charts and tables appear here as soon as the service has handled its first call. Every request is counted
          with its tokens and its exact cost at the price that held at that moment.
        </p>
        <ol className="steps">
          <Step n={1} title="Create an API key">
            <CodeBlock>npm run cli -- keys create --name my-app</CodeBlock>
          </Step>
          <Step n={2} title="Make your first call">
            <CodeBlock>
              curl -X POST <Origin />
              {`/v1/llm/generate \\
  -H "Authorization: Bearer $MODEL_SERVICE_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]}'`}
            </CodeBlock>
          </Step>
        </ol>
        <p className="hint">
          A provider needs its key: set <code>OPENAI_API_KEY</code> or <code>ANTHROPIC_API_KEY</code> in{" "}
          <code>.env</code> and restart. Without one, the call answers 503 with the reason.
        </p>
      </EmptyState>
    </>
  );
}
