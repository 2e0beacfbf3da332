// The usage page before there is anything to show: how to make a first request (or load demo
// data), and what a signed-out visitor sees.
import { CodeBlock } from "./code-block";
import { EmptyState, Step } from "./empty-state";
import { Origin } from "./origin";

export function NoUsageYet() {
  return (
    <EmptyState title="No requests yet">
      <p>
        Charts and tables appear here as soon as the service has handled its first call. Every request is counted with its tokens and its
        exact cost at the price that held at that moment.
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
        A provider needs its key: set <code>OPENAI_API_KEY</code> or <code>ANTHROPIC_API_KEY</code> in <code>.env</code> and restart.
        Without one, the call answers 503 with the reason.
      </p>
      <p className="hint">
        Just looking around? <code>npm run cli -- seed-demo</code> writes 90 days of realistic demo usage for your account, then reload this
        page.
      </p>
    </EmptyState>
  );
}

export function SignInToSeeUsage() {
  return (
    <EmptyState title="Sign in to see usage">
      <p>Usage, costs and recent requests are shown to signed-in users: your own, or everyone&apos;s for an admin.</p>
      <p>
        <a className="button" href="/login">
          Sign in
        </a>
      </p>
    </EmptyState>
  );
}
