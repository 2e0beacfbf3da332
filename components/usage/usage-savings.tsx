"use client";
// Savings on the usage home page (usage.savings): what the response and embedding caches saved
// over the range, and for each model in use what the same tokens would have cost on cheaper models
// of the same type and capabilities, as a table sortable by any column.
import { keepPreviousData } from "@tanstack/react-query";
import { useState } from "react";
import styles from "./usage-dashboard.module.css";
import { compact, counted } from "@/lib/format";
import { money } from "@/lib/money";
import type { StatsInput } from "./stats-query";
import { trpc } from "../shared/trpc-provider";

type SortKey = "model" | "cost" | "alternative" | "altCost" | "saving" | "savingPercent";
type Row = {
  key: string;
  model: string;
  requests: number;
  tokens: string;
  cost: string;
  alternative: string | null;
  provider: string | null;
  available: boolean;
  altCost: string | null;
  saving: string | null;
  savingPercent: number | null;
};

const COLUMNS: { key: SortKey; label: string; numeric?: boolean }[] = [
  { key: "model", label: "Model in use" },
  { key: "cost", label: "Cost", numeric: true },
  { key: "alternative", label: "Cheaper model" },
  { key: "altCost", label: "Same tokens would cost", numeric: true },
  { key: "saving", label: "Saving", numeric: true },
  { key: "savingPercent", label: "Saving %", numeric: true },
];

/** Rows by one column; empty cells last whichever the direction. */
function compare(a: Row, b: Row, key: SortKey, desc: boolean): number {
  const va = a[key];
  const vb = b[key];
  if (va === null || vb === null) return va === vb ? 0 : va === null ? 1 : -1;
  const order = key === "model" || key === "alternative" ? String(va).localeCompare(String(vb)) : Number(va) - Number(vb);
  return desc ? -order : order;
}

export function UsageSavings({ input }: { input: Omit<StatsInput, "compare"> }) {
  const savings = trpc.usage.savings.useQuery({ ...input, alternatives: 5 }, { placeholderData: keepPreviousData });
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: "saving", desc: true });
  const data = savings.data;

  const rows: Row[] = (data?.models ?? []).flatMap((m): Row[] => {
    const base = {
      model: m.model,
      requests: m.requests,
      tokens: `${compact(m.inputTokens)} in · ${compact(m.outputTokens)} out`,
      cost: m.cost,
    };
    if (m.alternatives.length === 0) {
      return [
        { ...base, key: m.model, alternative: null, provider: null, available: false, altCost: null, saving: null, savingPercent: null },
      ];
    }
    return m.alternatives.map((a) => ({
      ...base,
      key: `${m.model}>${a.model}`,
      alternative: a.model,
      provider: a.provider,
      available: a.available,
      altCost: a.cost,
      saving: a.saving,
      savingPercent: a.savingPercent,
    }));
  });
  rows.sort((a, b) => compare(a, b, sort.key, sort.desc) || a.key.localeCompare(b.key));

  return (
    <section className={styles.section} aria-label="Savings" data-testid="usage-savings">
      <h2>Savings</h2>
      {savings.error && !data ? (
        <p className="form-error" role="alert">
          Could not load savings: {savings.error.message}
        </p>
      ) : !data ? (
        <p className="muted">Loading…</p>
      ) : (
        <>
          <div className={styles.cards}>
            <article
              className={styles.card}
              data-testid="card-cache-savings"
              data-exact={data.cache.savedCost}
              aria-label="Saved by caching"
            >
              <h3>Saved by caching</h3>
              <p className={styles.cardValue} title={data.cache.savedCost}>
                {money(data.cache.savedCost)}
              </p>
              <p className={styles.cardDetail}>{counted(data.cache.cachedRequests, "request")} answered from the cache</p>
            </article>
          </div>
          {rows.length === 0 ? (
            <p className="muted">No paid traffic in this range.</p>
          ) : (
            <>
              <p className="muted">
                What each model&apos;s recorded tokens would cost on cheaper models with the same type and capabilities, at current list
                prices (token counts differ between providers&apos; tokenizers, so this is an estimate). Click a column to sort.
              </p>
              <div className="table-wrap">
                <table className="table" aria-label="Cheaper models for the same traffic">
                  <thead>
                    <tr>
                      {COLUMNS.map((c) => (
                        <th
                          key={c.key}
                          className={c.numeric ? styles.numeric : undefined}
                          aria-sort={sort.key === c.key ? (sort.desc ? "descending" : "ascending") : "none"}
                        >
                          <button
                            type="button"
                            className="link-button"
                            onClick={() => setSort((s) => ({ key: c.key, desc: s.key === c.key ? !s.desc : c.numeric === true }))}
                          >
                            {c.label}
                            {sort.key === c.key ? (sort.desc ? " ▼" : " ▲") : ""}
                          </button>
                        </th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((r) => (
                      <tr key={r.key}>
                        <td className={styles.label}>
                          {r.model}
                          <br />
                          <small className="muted">
                            {counted(r.requests, "request")} · {r.tokens}
                          </small>
                        </td>
                        <td className={styles.numeric} title={r.cost}>
                          {money(r.cost)}
                        </td>
                        <td className="cell-wrap">
                          {r.alternative ?? <span className="muted">none cheaper</span>}
                          {r.alternative ? (
                            <span className="cell-sub">
                              {r.provider}
                              {r.available ? "" : ", not configured"}
                            </span>
                          ) : null}
                        </td>
                        <td className={styles.numeric} title={r.altCost ?? undefined}>
                          {r.altCost === null ? "—" : money(r.altCost)}
                        </td>
                        <td className={styles.numeric} title={r.saving ?? undefined}>
                          {r.saving === null ? "—" : money(r.saving)}
                        </td>
                        <td className={styles.numeric}>{r.savingPercent === null ? "—" : `${r.savingPercent.toFixed(1)}%`}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </>
          )}
        </>
      )}
    </section>
  );
}
