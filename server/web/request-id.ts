import { randomUUID } from "node:crypto";

/** Honours a caller's X-Request-Id when it is short and plain; otherwise makes one. */
export function requestIdFrom(headers: Headers): string {
  const given = headers.get("x-request-id");
  if (given && /^[A-Za-z0-9._:-]{1,128}$/.test(given)) return given;
  return randomUUID();
}
