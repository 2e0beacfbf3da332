import "server-only";
// A model's deployments: each `models:` entry of the configuration file (model-service.yaml) is
// one, and several entries of one model form its group. A model the file does not name has one
// implicit deployment, its catalogue provider under the catalogue id (what every call did before
// routing). The groups are derived once per configuration (a reload makes a new one) and model.
import { deploymentIdOf, ROUTING_STRATEGIES, type ConfigFile, type ModelConfig } from "../../providers/config/config-file.ts";
import { currentConfigFile } from "../../providers/registry.ts";
import { resolveModel, type CatalogueModel, type Price } from "../catalogue/index.ts";

export type Strategy = (typeof ROUTING_STRATEGIES)[number];

export type Deployment = {
  /** Unique across the file: `<provider>/<provider_model or model>` unless the entry names one. Never holds a key. */
  id: string;
  /** The catalogue id of the model it serves. */
  model: string;
  provider: string;
  /** The name sent to the provider. */
  providerModel: string;
  /** `providerModel` came from the file's `provider_model`: sent as is (GenerateRequest.exactModel). */
  exactModel: boolean;
  weight: number;
  /** Lower first; deployments of equal priority share the load. */
  priority: number;
  rpm?: number;
  tpm?: number;
  region?: string;
  tags: string[];
  /** The deployment's own price (usage events of the calls it answers); the catalogue's when absent. */
  price?: Price;
  /** Declared in the file or the dashboard (false: the implicit deployment of a model neither names). */
  declared: boolean;
  /** Where it was declared: the configuration file, or the dashboard (stored-deployments.ts). */
  source?: "file" | "dashboard";
};

export type CooldownPolicy = { failures: number; windowMs: number; cooldownMs: number };
export type RoutingPolicy = { strategy: Strategy; cooldown: CooldownPolicy };

/** 3 failures within 60 s cool a deployment down for 30 s, unless the file says otherwise. */
export const DEFAULT_POLICY: RoutingPolicy = {
  strategy: "weighted",
  cooldown: { failures: 3, windowMs: 60_000, cooldownMs: 30_000 },
};

export type DeploymentGroup = { model: string; deployments: Deployment[]; policy: RoutingPolicy };

const derived = new WeakMap<ConfigFile, Map<string, DeploymentGroup>>();
/** Groups of models the file does not name, by `<model>\0<provider>` (the provider may be changed by an admin). */
const implicitGroups = new Map<string, DeploymentGroup>();

const priceOf = (m: ModelConfig): Price | undefined =>
  m.price && {
    inputPerMTok: String(m.price.input),
    outputPerMTok: String(m.price.output),
    cachedInputPerMTok: m.price.cached_input !== undefined ? String(m.price.cached_input) : null,
  };

function catalogueId(name: string): string {
  try {
    return resolveModel(name).id;
  } catch {
    return name;
  }
}

// The deployments an admin added in the dashboard (stored-deployments.ts keeps them in step with
// the table on every instance): routed as if they were entries of the file, after its own.
let stored: { entries: ModelConfig[]; dashboard: WeakSet<ModelConfig>; version: number } = {
  entries: [],
  dashboard: new WeakSet(),
  version: 0,
};
const withStored = new WeakMap<ConfigFile, { version: number; merged: ConfigFile }>();
const NO_FILE: ConfigFile = { path: "", providers: {}, models: [], missing: {} };

/** Replaces the dashboard's deployments (stored-deployments.ts). */
export function setStoredDeployments(entries: ModelConfig[]): void {
  stored = { entries, dashboard: new WeakSet(entries), version: stored.version + 1 };
}

/** The file in use with the dashboard's deployments after its own `models:` (one object per change of either). */
export function routingConfig(file: ConfigFile | undefined = currentConfigFile()): ConfigFile | undefined {
  if (stored.entries.length === 0) return file;
  const base = file ?? NO_FILE;
  const known = withStored.get(base);
  if (known?.version === stored.version) return known.merged;
  const merged = { ...base, models: [...base.models, ...stored.entries] };
  withStored.set(base, { version: stored.version, merged });
  return merged;
}

/** The deployments of `model` and its routing policy, from the configuration file in use and the dashboard's. */
export function deploymentGroup(model: CatalogueModel, config: ConfigFile | undefined = routingConfig()): DeploymentGroup {
  if (!config || config.models.length === 0) return implicitGroup(model, DEFAULT_POLICY);
  let groups = derived.get(config);
  if (!groups) derived.set(config, (groups = groupsOf(config)));
  return groups.get(model.id) ?? implicitGroup(model, policyFor(config, model.id, []));
}

function implicitGroup(model: CatalogueModel, policy: RoutingPolicy): DeploymentGroup {
  const key = `${model.id}\0${model.provider}`;
  let group = implicitGroups.get(key);
  if (!group || group.policy !== policy) {
    group = {
      model: model.id,
      policy,
      deployments: [
        {
          id: `${model.provider}/${model.id}`,
          model: model.id,
          provider: model.provider,
          providerModel: model.id,
          exactModel: false,
          weight: 1,
          priority: 0,
          tags: [],
          declared: false,
        },
      ],
    };
    if (implicitGroups.size > 10_000) implicitGroups.clear();
    implicitGroups.set(key, group);
  }
  return group;
}

function groupsOf(config: ConfigFile): Map<string, DeploymentGroup> {
  const byModel = new Map<string, Deployment[]>();
  const names = new Map<string, string[]>();
  for (const m of config.models) {
    const model = catalogueId(m.model);
    const list = byModel.get(model) ?? [];
    list.push({
      id: deploymentIdOf(m),
      model,
      provider: m.provider,
      providerModel: m.provider_model ?? model,
      exactModel: m.provider_model !== undefined,
      weight: m.weight ?? 1,
      priority: m.priority ?? 0,
      ...(m.rpm !== undefined ? { rpm: m.rpm } : {}),
      ...(m.tpm !== undefined ? { tpm: m.tpm } : {}),
      ...(m.region !== undefined ? { region: m.region } : {}),
      tags: m.tags ?? [],
      ...(m.price ? { price: priceOf(m) } : {}),
      declared: true,
      source: stored.dashboard.has(m) ? "dashboard" : "file",
    });
    byModel.set(model, list);
    names.set(model, [...(names.get(model) ?? []), m.model]);
  }
  const groups = new Map<string, DeploymentGroup>();
  for (const [model, deployments] of byModel) {
    groups.set(model, { model, deployments, policy: policyFor(config, model, names.get(model) ?? []) });
  }
  return groups;
}

const policies = new WeakMap<ConfigFile, Map<string, RoutingPolicy>>();

/** The file's `routing:` entry for the model (by its catalogue id or any name the file uses), over `default`, over DEFAULT_POLICY. */
function policyFor(config: ConfigFile, model: string, names: string[]): RoutingPolicy {
  const routing = config.routing ?? {};
  let cache = policies.get(config);
  if (!cache) policies.set(config, (cache = new Map()));
  const known = cache.get(model);
  if (known) return known;
  const own =
    routing[model] ??
    names.map((n) => routing[n]).find(Boolean) ??
    Object.entries(routing).find(([name]) => name !== "default" && catalogueId(name) === model)?.[1];
  const base = routing.default;
  const policy: RoutingPolicy = {
    strategy: own?.strategy ?? base?.strategy ?? DEFAULT_POLICY.strategy,
    cooldown: {
      failures: own?.cooldown?.failures ?? base?.cooldown?.failures ?? DEFAULT_POLICY.cooldown.failures,
      windowMs: secondsOr(own?.cooldown?.window_s ?? base?.cooldown?.window_s, DEFAULT_POLICY.cooldown.windowMs),
      cooldownMs: secondsOr(own?.cooldown?.cooldown_s ?? base?.cooldown?.cooldown_s, DEFAULT_POLICY.cooldown.cooldownMs),
    },
  };
  cache.set(model, policy);
  return policy;
}

const secondsOr = (s: number | undefined, fallbackMs: number) => (s === undefined ? fallbackMs : Math.round(s * 1000));

/** Every deployment the file and the dashboard declare (the models page, /metrics). */
export function declaredDeployments(config: ConfigFile | undefined = routingConfig()): DeploymentGroup[] {
  if (!config) return [];
  let groups = derived.get(config);
  if (!groups) derived.set(config, (groups = groupsOf(config)));
  return [...groups.values()];
}
