import "server-only";
// Who may read /metrics besides an admin: a scraper sending `Authorization: Bearer <METRICS_TOKEN>`.
import { createHash, timingSafeEqual } from "node:crypto";
import { loadEnv } from "../kernel/env.ts";

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

/** Whether the request carries the configured METRICS_TOKEN (compared in constant time). */
export function isMetricsToken(headers: Headers): boolean {
  const token = loadEnv().METRICS_TOKEN;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(headers.get("authorization") ?? "");
  if (!token || !m) return false;
  return timingSafeEqual(digest(m[1]!), digest(token));
}
