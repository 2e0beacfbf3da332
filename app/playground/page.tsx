import type { Metadata } from "next";
import { PageHeader } from "@/components/page-header";
import { Playground } from "@/components/playground";

export const metadata: Metadata = { title: "Playground" };

export default function PlaygroundPage() {
  return (
    <>
      <PageHeader
        title="Playground"
        description="Try a prompt on any model: the answer streams in, then its tokens, cost and latency. Runs are recorded in usage like any call."
      />
      <Playground />
    </>
  );
}
