"use client";
// Shown when a page throws while rendering; the layout (navigation, badge) stays usable.
import { useEffect } from "react";

export default function PageError({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  useEffect(() => {
    console.error(error);
  }, [error]);

  return (
    <section className="not-found" role="alert">
      <h1>Something went wrong</h1>
      <p>
        This page could not be shown.
        {error.digest ? (
          <>
            {" "}
            Quote <code>{error.digest}</code> when reporting it.
          </>
        ) : null}
      </p>
      <button type="button" className="button" onClick={reset}>
        Try again
      </button>
    </section>
  );
}
