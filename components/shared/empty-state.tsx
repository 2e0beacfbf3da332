import type { ReactNode } from "react";

/** What a page shows before there is anything to list: what will appear, and how to get there. */
export function EmptyState({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section className="empty-state" data-testid="empty-state" aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

/** A numbered step inside an empty state. */
export function Step({ n, title, children }: { n: number; title: ReactNode; children?: ReactNode }) {
  return (
    <li className="step">
      <span className="step-number" aria-hidden>
        {n}
      </span>
      <div className="step-body">
        <p className="step-title">{title}</p>
        {children}
      </div>
    </li>
  );
}
