import type { Metadata } from "next";
import { PageHeader } from "@/components/shared/page-header";
import { Playground } from "@/components/inference/playground";

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
