// The usage page before there is anything to show: a key from the Keys page and a first request, or
// (for an admin) demo data in one click; and what a signed-out visitor sees.
import Link from "next/link";
import { CodeBlock } from "../shared/code-block";
import { EmptyState, Step } from "../shared/empty-state";
import { Origin } from "../shared/origin";
import { DemoDataButton } from "./demo-data-button";

export function NoUsageYet({ isAdmin }: { isAdmin: boolean }) {
  return (
    <EmptyState title="No requests yet">
      <p>
        Charts and tables appear here as soon as the service has handled its first call. Every request is counted with its tokens and its
        exact cost at the price that held at that moment.
      </p>
      <ol className="steps">
        <Step n={1} title="Create an API key">
          <p className="step-text">
            On the <Link href="/keys">Keys page</Link>: give it a name, create it, and copy it (it is shown once).
          </p>
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
      {isAdmin ? (
        <div className="hint" data-testid="demo-data">
          <p>
            Just looking around? Fill this page with 30 days of realistic demo usage (three demo keys, several models, streams and errors):
          </p>
          <DemoDataButton />
        </div>
      ) : (
        <p className="hint">Just looking around? An admin can fill this page with demo usage from here, with one click.</p>
      )}
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
