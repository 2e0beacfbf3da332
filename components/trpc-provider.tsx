"use client";
// The tRPC React client for the dashboard. Only the router's *type* comes from the server.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { httpBatchStreamLink } from "@trpc/client";
import { createTRPCReact } from "@trpc/react-query";
import { useState, type ReactNode } from "react";
import superjson from "superjson";
import { TRPC_MAX_BATCH_SIZE } from "@/lib/trpc-limits";
import type { AppRouter } from "@/server/api/trpc-root";

export const trpc = createTRPCReact<AppRouter>();

function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: { staleTime: 30_000, retry: 1, refetchOnWindowFocus: false },
    },
  });
}

let browserQueryClient: QueryClient | undefined;

// One QueryClient per browser tab; a fresh one for every server render, so no cache leaks between
// requests.
function getQueryClient(): QueryClient {
  if (typeof window === "undefined") return makeQueryClient();
  browserQueryClient ??= makeQueryClient();
  return browserQueryClient;
}

function trpcUrl(): string {
  if (typeof window !== "undefined") return "/api/trpc";
  // Only reached if a query runs during a server render; the dashboard does not prefetch (yet).
  return `http://127.0.0.1:${process.env.PORT ?? 8003}/api/trpc`;
}

export function TRPCProvider({ children }: { children: ReactNode }) {
  const queryClient = getQueryClient();
  const [trpcClient] = useState(() =>
    // The stream link also carries procedures that yield (the playground's streamed generation).
    // The server refuses batches of more than TRPC_MAX_BATCH_SIZE calls; the link splits them.
    trpc.createClient({ links: [httpBatchStreamLink({ url: trpcUrl(), transformer: superjson, maxItems: TRPC_MAX_BATCH_SIZE })] }),
  );
  return (
    <trpc.Provider client={trpcClient} queryClient={queryClient}>
      <QueryClientProvider client={queryClient}>{children}</QueryClientProvider>
    </trpc.Provider>
  );
}
