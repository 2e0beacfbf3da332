"use client";
// The empty usage page's one-click demo data for admins (tRPC system.seedDemo, the CLI's seed-demo):
// 30 days of realistic usage under three demo keys, then the page reloads its data.
import { useRouter } from "next/navigation";
import { counted } from "@/lib/format";
import { trpc } from "../shared/trpc-provider";

export function DemoDataButton() {
  const router = useRouter();
  const seed = trpc.system.seedDemo.useMutation({ onSuccess: () => router.refresh() });
  return (
    <span className="row-actions">
      <button type="button" className="button" onClick={() => seed.mutate({ days: 30 })} disabled={seed.isPending || seed.isSuccess}>
        {seed.isPending ? "Writing demo data…" : "Load 30 days of demo data"}
      </button>
      {seed.data ? (
        <span className="muted" role="status">
          Wrote {counted(seed.data.inserted, "demo request")} ({seed.data.from} to {seed.data.to}); loading the dashboard…
        </span>
      ) : null}
      {seed.error ? (
        <span className="form-error" role="alert">
          {seed.error.message}
        </span>
      ) : null}
    </span>
  );
}
