import type { Metadata } from "next";
import { PageHeader } from "@/components/shared/page-header";
import { RequestsLog } from "@/components/usage/requests-log";

export const metadata: Metadata = { title: "Requests" };

export default function RequestsPage() {
  return (
    <>
      <PageHeader
        title="Requests"
        description="Every call, newest first, with who and what it was for (tags, end user, session, metadata); open one for its tokens, cost, latency and attempts. The same list as GET /v1/llm/requests."
      />
      <RequestsLog />
    </>
  );
}
