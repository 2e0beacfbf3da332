import "server-only";
// The path the root layout is rendering (set by proxy.ts), to tell sign-in pages from the rest.
import { headers } from "next/headers";

export const PUBLIC_DASHBOARD_PAGES = ["/login", "/setup"] as const;

export async function renderedPath(): Promise<string> {
  return (await headers()).get("x-ms-pathname") ?? "/";
}

export async function onPublicPage(): Promise<boolean> {
  return (PUBLIC_DASHBOARD_PAGES as readonly string[]).includes(await renderedPath());
}
