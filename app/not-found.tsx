import type { Metadata } from "next";
import Link from "next/link";

export const metadata: Metadata = { title: "Page not found" };

export default function NotFound() {
  return (
    <section className="not-found" data-testid="not-found">
      <p className="not-found-code">404</p>
      <h1>Page not found</h1>
      <p>There is no page at this address.</p>
      <Link href="/" className="button">
        Back to Usage
      </Link>
    </section>
  );
}
