"use client";
// The models page's Deployments section: for each model that model-service.yaml routes over
// several deployments, each deployment with its provider and model name there, weight, priority,
// caps, health (taking traffic, cooling down for how long, or its provider's reason) and recent
// latency, from tRPC routing.deployments (refreshed every 5 s). Nothing shows when no model is routed.
import { compact } from "@/lib/format";
import { trpc } from "../shared/trpc-provider";
import type { RouterOutputs } from "../wire";
import styles from "./models-catalogue.module.css";

type Deployment = RouterOutputs["routing"]["deployments"][number]["deployments"][number];

function Health({ d }: { d: Deployment }) {
  const text =
    d.status === "ok"
      ? "Taking traffic"
      : d.status === "cooling"
        ? `Cooling down, ${Math.ceil(d.cooldownMs / 1000)} s left`
        : "Unavailable";
  return (
    <span className={styles.availability} data-available={d.status === "ok"} data-testid="deployment-health">
      <span className={styles.dot} aria-hidden />
      <span>
        {text}
        {d.reason ? <span className={styles.reason}>{d.reason}</span> : null}
      </span>
    </span>
  );
}

const caps = (d: Deployment) =>
  [d.rpm !== null ? `${compact(d.rpm)} rpm` : null, d.tpm !== null ? `${compact(d.tpm)} tpm` : null].filter(Boolean).join(", ") || "none";

export function DeploymentsTable() {
  const q = trpc.routing.deployments.useQuery(undefined, { refetchInterval: 5_000, retry: false });
  const groups = q.data ?? [];
  if (!groups.length) return null;
  return (
    <section aria-label="Deployments" data-testid="deployments">
      <h2>Deployments</h2>
      <p className="muted">
        Models served by several deployments (model-service.yaml); each call goes to one by the model&apos;s strategy, skipping those
        cooling down after failures or at their caps. Latency, in flight and counts are this instance&apos;s.
      </p>
      <div className="table-wrap">
        <table className={`table ${styles.table}`} aria-label="Deployments">
          <thead>
            <tr>
              <th>Model</th>
              <th>Deployment</th>
              <th>Provider / model there</th>
              <th className={styles.numeric}>Weight</th>
              <th className={styles.numeric}>Priority</th>
              <th>Caps</th>
              <th>Health</th>
              <th className={styles.numeric}>Latency</th>
              <th className={styles.numeric}>In flight</th>
              <th className={styles.numeric}>Requests / failures</th>
            </tr>
          </thead>
          <tbody>
            {groups.flatMap((g) =>
              g.deployments.map((d, i) => (
                <tr key={`${g.model}/${d.id}`} data-testid={`deployment-${d.id}`}>
                  <td>{i === 0 ? `${g.model} (${g.strategy})` : ""}</td>
                  <td>
                    <code>{d.id}</code>
                    {d.region ? <span className="muted"> · {d.region}</span> : null}
                  </td>
                  <td>
                    {d.provider} / {d.providerModel}
                  </td>
                  <td className={styles.numeric}>{d.weight}</td>
                  <td className={styles.numeric}>{d.priority}</td>
                  <td>{caps(d)}</td>
                  <td>
                    <Health d={d} />
                  </td>
                  <td className={styles.numeric}>{d.latencyMs === null ? "—" : `${d.latencyMs} ms`}</td>
                  <td className={styles.numeric}>{d.inFlight}</td>
                  <td className={styles.numeric}>
                    {d.requests} / {d.failures}
                  </td>
                </tr>
              )),
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}
