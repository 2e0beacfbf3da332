import "server-only";
// Choosing a model's deployment for one attempt: among the deployments whose provider can serve,
// that are not cooling down (groups of two or more: a model with one deployment is called as
// before, whatever its health) and under their caps (when all are at theirs, the caller may wait
// for the minute to end, as for a cooldown), the ones this call has not tried yet first,
// the lowest priority first, then by the model's strategy:
//   weighted    random, in proportion to `weight` (the default)
//   least-busy  fewest requests in flight on this instance (ties: by weight)
//   latency     lowest moving average of time to first token or to the answer; deployments not yet
//               measured first, and one pick in EXPLORE at random, so a recovered one is measured again
//   cost        the cheapest price (the deployment's own, else the catalogue's) (ties: by weight)
import { AppError } from "../../kernel/errors.ts";
import { watchDeployments } from "../../kernel/metrics.ts";
import { getProvider } from "../../providers/registry.ts";
import { ProviderError, type Provider } from "../../providers/types.ts";
import { costOf, modelAvailability, pricingFor, type CatalogueModel, type Pico } from "../catalogue/index.ts";
import { deploymentGroup, type Deployment, type DeploymentGroup, type Strategy } from "./deployments.ts";
import { DeploymentHealth } from "./health.ts";

const UNIT = { inputTokens: 1_000_000, outputTokens: 1_000_000, cachedInputTokens: 0 };
const ownUnitCost = new WeakMap<Deployment, Pico>();

/** Share of latency-strategy picks made at random (exploration). */
export const EXPLORE = 0.05;

export type RouteChoice =
  | { kind: "deployment"; deployment: Deployment; provider: Provider }
  /**
   * Every deployment is cooling down, or at its rpm/tpm cap: the first is back at `untilMs` (epoch
   * ms). `why` completes "Every deployment of <model> is …" for the answer when the call cannot wait.
   */
  | { kind: "wait"; untilMs: number; why: string }
  /** Nothing can serve now (no provider can). */
  | { kind: "none"; error: AppError };

const g = globalThis as unknown as { __modelServiceRoutingHealth?: DeploymentHealth };

/** The process's deployment health (one across Next's bundles and the lean host). */
export function deploymentHealth(): DeploymentHealth {
  if (!g.__modelServiceRoutingHealth) {
    g.__modelServiceRoutingHealth = new DeploymentHealth();
    watchDeployments(() => g.__modelServiceRoutingHealth?.samples() ?? []);
  }
  return g.__modelServiceRoutingHealth;
}

/** Tests: forget every deployment's health, in-flight count and latency. */
export function resetRoutingForTests(): void {
  g.__modelServiceRoutingHealth = undefined;
}

/** Whether an error is the deployment's fault (and so counts against its health and moves the call on). */
export function deploymentFailed(err: unknown): err is ProviderError {
  // Not "invalid_request": the caller's own request was wrong, wherever it went. A 404 is the
  // deployment's (the catalogue knows the model; its name there is wrong), as is a refused key.
  return err instanceof ProviderError && err.kind !== "invalid_request";
}

/** One model's routing for one call. */
export class Route {
  readonly group: DeploymentGroup;
  /** Cooldowns apply: the model has more than one deployment to move to. */
  readonly cools: boolean;

  constructor(
    readonly model: CatalogueModel,
    private readonly health: DeploymentHealth = deploymentHealth(),
    group: DeploymentGroup = deploymentGroup(model),
  ) {
    this.group = group;
    this.cools = group.deployments.length > 1;
  }

  /** Why the model cannot be served at all (disabled, no provider can serve), or undefined. */
  unavailable(): AppError | undefined {
    const { model } = this;
    if (!model.enabled) return new AppError("model_disabled", `Model ${model.id} is disabled by an admin`, { model: model.id });
    const only = this.group.deployments.length === 1 ? this.group.deployments[0]! : undefined;
    if (only && !only.declared) {
      // The implicit deployment: exactly the checks (and messages) of a call before routing.
      const availability = modelAvailability(model);
      return availability.available ? undefined : new AppError("unavailable", availability.reason ?? `Model ${model.id} is unavailable`);
    }
    if (this.serving().length > 0) return undefined;
    if (only) {
      const provider = getProvider(only.provider);
      if (!provider) return new AppError("unavailable", `Provider ${only.provider} of model ${model.id} is not configured`);
      return new AppError("unavailable", `Model ${model.id} is unavailable: ${providerProblem(only)}`);
    }
    const reasons = this.group.deployments.map((d) => `${d.id}: ${providerProblem(d) ?? "weight 0"}`);
    return new AppError("unavailable", `Model ${model.id} is unavailable: no deployment can serve it (${reasons.join("; ")})`);
  }

  /** The deployments whose provider can serve now. */
  private serving(): { d: Deployment; provider: Provider }[] {
    const out: { d: Deployment; provider: Provider }[] = [];
    for (const d of this.group.deployments) {
      if (d.weight <= 0 && this.group.deployments.length > 1) continue;
      const provider = getProvider(d.provider);
      if (provider && provider.status().available) out.push({ d, provider });
    }
    return out;
  }

  /** Whether a deployment this call has not tried yet could take the next attempt now (this instance's view). */
  hasAlternative(tried: ReadonlySet<string>): boolean {
    const at = Date.now();
    return this.serving().some(({ d }) => !tried.has(d.id) && !(this.cools && this.health.cooling(d, at)));
  }

  /** The deployment for the next attempt (counted against its caps), or when to ask again, or why none can serve. */
  async choose(tried: ReadonlySet<string>): Promise<RouteChoice> {
    const serving = this.serving();
    if (serving.length === 0)
      return { kind: "none", error: this.unavailable() ?? new AppError("unavailable", `Model ${this.model.id} is unavailable`) };
    if (this.cools) await this.health.refresh(this.model.id, this.group.deployments);
    const at = Date.now();
    const healthy = this.cools ? serving.filter(({ d }) => !this.health.cooling(d, at)) : serving;
    if (healthy.length === 0) {
      return {
        kind: "wait",
        untilMs: Math.min(...serving.map(({ d }) => this.health.stats(d.id).cooledUntil)),
        why: "cooling down after failures",
      };
    }
    const fresh = healthy.filter(({ d }) => !tried.has(d.id));
    let pool = fresh.length > 0 ? fresh : healthy;
    while (pool.length > 0) {
      const top = Math.min(...pool.map(({ d }) => d.priority));
      const tier = pool.filter(({ d }) => d.priority === top);
      const picked = this.pick(tier, this.group.policy.strategy);
      if (await this.health.take(picked.d)) return { kind: "deployment", deployment: picked.d, provider: picked.provider };
      pool = pool.filter((c) => c !== picked);
      if (pool.length === 0 && fresh.length > 0 && fresh.length < healthy.length) {
        // Every untried one is at its caps: the tried ones may take a retry.
        pool = healthy.filter(({ d }) => tried.has(d.id));
        fresh.length = 0;
      }
    }
    // Every one is at its caps: the call may wait for the caps' minute to end (LiteLLM answers "no
    // deployments available" at once here, its issue #3646).
    // (Or cooling down: then the first to be back, at the minute's end or its cooldown's.)
    const cooling = serving.filter(({ d }) => this.cools && this.health.cooling(d, at));
    return {
      kind: "wait",
      untilMs: Math.min(this.health.capResetAt(), ...cooling.map(({ d }) => this.health.stats(d.id).cooledUntil)),
      why: cooling.length > 0 ? "at its requests or tokens per minute cap or cooling down" : "at its requests or tokens per minute cap",
    };
  }

  private pick<T extends { d: Deployment }>(tier: T[], strategy: Strategy): T {
    if (tier.length === 1) return tier[0]!;
    switch (strategy) {
      case "least-busy": {
        const least = Math.min(...tier.map(({ d }) => this.health.stats(d.id).inFlight));
        return byWeight(tier.filter(({ d }) => this.health.stats(d.id).inFlight === least));
      }
      case "latency": {
        if (Math.random() < EXPLORE) return byWeight(tier);
        const unmeasured = tier.filter(({ d }) => this.health.stats(d.id).latencyMs === undefined);
        if (unmeasured.length > 0) return byWeight(unmeasured);
        let best = tier[0]!;
        for (const c of tier) if (this.health.stats(c.d.id).latencyMs! < this.health.stats(best.d.id).latencyMs!) best = c;
        return best;
      }
      case "cost": {
        const prices = tier.map(({ d }) => this.unitCost(d));
        const cheapest = prices.reduce((a, b) => (b < a ? b : a));
        return byWeight(tier.filter((_, i) => prices[i] === cheapest));
      }
      default:
        return byWeight(tier);
    }
  }

  /** What a million input and a million output tokens cost there: the cost strategy's yardstick. */
  private unitCost(d: Deployment): Pico {
    const own = d.price && ownUnitCost.get(d);
    if (own !== undefined) return own;
    const cost = costOf(d.price ?? pricingFor(this.model.id), UNIT).totalCost;
    // A deployment's own price is fixed for its configuration; the catalogue's may change at any time.
    if (d.price) ownUnitCost.set(d, cost);
    return cost;
  }

  /** An attempt starts on `d`: counted in flight until it ends (succeeded, failed or ended, once). */
  started(d: Deployment): Attempt {
    this.health.started(d);
    return new Attempt(this, this.health, d);
  }
}

/** One attempt on one deployment, as its health sees it. */
export class Attempt {
  private open = true;
  private sampled = false;
  constructor(
    private readonly route: Route,
    private readonly health: DeploymentHealth,
    readonly deployment: Deployment,
  ) {}

  /** The first byte (or the answer) arrived after `latencyMs`: the latency strategy's sample (once). */
  sample(latencyMs: number): void {
    if (this.sampled) return;
    this.sampled = true;
    this.health.sample(this.deployment, latencyMs);
  }

  /** It answered, using `tokens` (counted against a tpm cap). */
  succeeded(latencyMs: number, tokens: number): void {
    this.sample(latencyMs);
    const d = this.deployment;
    if (d.tpm !== undefined) void this.health.addTokens(d, tokens).catch(() => {});
    this.ended();
  }

  /** It failed: counted against the deployment when it was its fault (awaited: the next choice then knows). */
  async failed(err: unknown, elapsedMs: number, tokens = 0): Promise<void> {
    const d = this.deployment;
    this.ended();
    if (d.tpm !== undefined && tokens > 0) void this.health.addTokens(d, tokens).catch(() => {});
    if (!deploymentFailed(err)) return;
    await this.health.failed(d, this.route.group.policy.cooldown, err.kind === "rate_limited" ? err.retryAfterMs : undefined, elapsedMs);
  }

  /** It is over (no verdict, or one already given): no longer in flight. */
  ended(): void {
    if (!this.open) return;
    this.open = false;
    this.health.ended(this.deployment);
  }
}

/** Why `d`'s provider cannot serve now (not configured, or its status's reason), or undefined. */
export function providerProblem(d: Deployment): string | undefined {
  const provider = getProvider(d.provider);
  if (!provider) return `provider ${d.provider} is not configured`;
  const status = provider.status();
  return status.available ? undefined : (status.reason ?? "unavailable");
}

function byWeight<T extends { d: Deployment }>(tier: T[]): T {
  if (tier.length === 1) return tier[0]!;
  const total = tier.reduce((sum, c) => sum + Math.max(0, c.d.weight), 0);
  if (total <= 0) return tier[Math.floor(Math.random() * tier.length)]!;
  let r = Math.random() * total;
  for (const c of tier) {
    r -= Math.max(0, c.d.weight);
    if (r < 0) return c;
  }
  return tier[tier.length - 1]!;
}

/** The routing of `model` for one call. */
export function routeFor(model: CatalogueModel): Route {
  return new Route(model);
}
