import "server-only";
// The deployments the configuration file and the dashboard declare, with what this instance knows of each now:
// its settings (weight, priority, caps, region, tags, price), whether it can serve (its provider's
// state, a cooldown: shared ones read from Redis when configured), its recent latency, requests in
// flight, and the requests and failures this instance has seen. For the models page (tRPC
// routing.deployments); never a key.
import { declaredDeployments, type Deployment, type Strategy } from "./deployments.ts";
import { deploymentHealth, providerProblem } from "./router.ts";

export type DeploymentView = {
  id: string;
  /** Declared in the configuration file, or added in the dashboard (which can edit and remove it). */
  source: "file" | "dashboard";
  provider: string;
  providerModel: string;
  weight: number;
  priority: number;
  rpm: number | null;
  tpm: number | null;
  region: string | null;
  tags: string[];
  /** USD per 1M tokens, when the deployment has its own price. */
  price: { input: string; output: string } | null;
  /** ok: it takes traffic; cooling: cooled down after failures (for `cooldownMs` more); unavailable: its provider cannot serve. */
  status: "ok" | "cooling" | "unavailable";
  reason: string | null;
  cooldownMs: number;
  latencyMs: number | null;
  inFlight: number;
  requests: number;
  failures: number;
};

export type ModelDeployments = { model: string; strategy: Strategy; deployments: DeploymentView[] };

export async function deploymentsOverview(now: () => number = Date.now): Promise<ModelDeployments[]> {
  const health = deploymentHealth();
  const out: ModelDeployments[] = [];
  for (const group of declaredDeployments()) {
    await health.refresh(group.model, group.deployments);
    const at = now();
    out.push({
      model: group.model,
      strategy: group.policy.strategy,
      deployments: group.deployments.map((d) => view(d, at, group.deployments.length > 1)),
    });
  }
  return out.sort((a, b) => a.model.localeCompare(b.model));
}

function view(d: Deployment, at: number, cools: boolean): DeploymentView {
  const s = deploymentHealth().stats(d.id);
  const problem = providerProblem(d);
  const cooldownMs = cools ? Math.max(0, s.cooledUntil - at) : 0;
  return {
    id: d.id,
    source: d.source ?? "file",
    provider: d.provider,
    providerModel: d.providerModel,
    weight: d.weight,
    priority: d.priority,
    rpm: d.rpm ?? null,
    tpm: d.tpm ?? null,
    region: d.region ?? null,
    tags: d.tags,
    price: d.price ? { input: d.price.inputPerMTok, output: d.price.outputPerMTok } : null,
    status: problem !== undefined ? "unavailable" : cooldownMs > 0 ? "cooling" : "ok",
    reason: problem ?? null,
    cooldownMs,
    latencyMs: s.latencyMs === undefined ? null : Math.round(s.latencyMs * 10) / 10,
    inFlight: s.inFlight,
    requests: s.requests,
    failures: s.failures,
  };
}
