import "server-only";
// Deployment health and caps. A deployment that fails `failures` times within `window` (connection
// errors, 5xx, 429, timeouts, a refused key: never the caller's own 4xx) is cooled down for
// `cooldown`; a 429 whose Retry-After is given cools it at once for that long, and a longer
// Retry-After wins over the cooldown. Caps: requests (`rpm`) and tokens (`tpm`) per minute.
//
// With REDIS_URL the failure counts, cooldowns and cap counters live in Redis (one Lua script per
// report and per cap check: one round trip, atomic across instances), so one instance's cooldown
// holds for all and survives a restart; each instance mirrors the cooldowns it has seen and reads
// a group's again at most every MIRROR_MS. Every Redis call has the request-path deadline; when
// Redis fails the same rules run on this instance's memory instead, and the request goes on.
// In-flight counts and latency are this instance's own (what least-busy and latency compare).
import { loadEnv } from "../../kernel/env.ts";
import type { DeploymentSample } from "../../kernel/metrics.ts";
import { getRedis, redisCommand, redisScript, redisUsable, runScript } from "../../kernel/redis.ts";
import type { CooldownPolicy, Deployment } from "./deployments.ts";

/** How stale this instance's copy of a group's shared cooldowns may get. */
export const MIRROR_MS = 250;
/** Weight of a new latency sample in the moving average. */
const EWMA_ALPHA = 0.3;
const MINUTE_MS = 60_000;

export type DeploymentStats = {
  inFlight: number;
  /** Moving average of time to first token (streams) or to the answer; undefined until measured. */
  latencyMs: number | undefined;
  requests: number;
  failures: number;
  /** Epoch ms until which it is cooling down (0: not). */
  cooledUntil: number;
};

type Local = DeploymentStats & {
  /** Failure times within the window (memory mode). */
  recent: number[];
  /** Cap counters of the current minute (memory mode). */
  minute: number;
  minuteRequests: number;
  minuteTokens: number;
};

// KEYS: failure counter, cooldown key. ARGV: failures, window ms, cooldown ms, retry-after ms (0: none).
// Returns the epoch ms the deployment is cooled until (0: not cooled).
const FAILED = `
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local threshold, window, cooldown, retryAfter = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local n = redis.call("INCR", KEYS[1])
if n == 1 then redis.call("PEXPIRE", KEYS[1], window) end
local current = tonumber(redis.call("GET", KEYS[2]) or "0")
local untilMs = 0
if retryAfter > 0 then untilMs = now + retryAfter end
if n >= threshold then
  untilMs = math.max(untilMs, now + math.max(cooldown, retryAfter))
  redis.call("DEL", KEYS[1])
end
if untilMs > current then
  redis.call("SET", KEYS[2], tostring(untilMs), "PX", untilMs - now)
  return untilMs
end
return current
`;

// KEYS: this minute's request counter, token counter. ARGV: rpm (0: none), tpm (0: none).
// Counts the request and returns 1 when both are under their caps; 0 (nothing counted) otherwise.
const TAKE = `
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
if tpm > 0 and tonumber(redis.call("GET", KEYS[2]) or "0") >= tpm then return 0 end
if rpm > 0 then
  local n = redis.call("INCR", KEYS[1])
  if n == 1 then redis.call("PEXPIRE", KEYS[1], 120000) end
  if n > rpm then return 0 end
end
return 1
`;

const SCRIPTS = { failed: redisScript(FAILED), take: redisScript(TAKE) };

export class DeploymentHealth {
  private readonly local = new Map<string, Local>();
  /** Every deployment this instance has routed to or read the state of (for /metrics). */
  private readonly known = new Map<string, Deployment>();
  private readonly mirroredAt = new Map<string, number>();
  private readonly listeners = new Set<(d: Deployment, stats: DeploymentStats) => void>();

  constructor(private readonly now: () => number = Date.now) {}

  stats(id: string): Local {
    let s = this.local.get(id);
    if (!s) {
      s = {
        inFlight: 0,
        latencyMs: undefined,
        requests: 0,
        failures: 0,
        cooledUntil: 0,
        recent: [],
        minute: 0,
        minuteRequests: 0,
        minuteTokens: 0,
      };
      this.local.set(id, s);
    }
    return s;
  }

  /** Told of each change of a deployment's numbers (metrics). */
  onChange(listener: (d: Deployment, stats: DeploymentStats) => void): void {
    this.listeners.add(listener);
  }

  private changed(d: Deployment): void {
    this.known.set(d.id, d);
    const s = this.stats(d.id);
    for (const l of this.listeners) l(d, s);
  }

  /** The numbers of every deployment this instance knows, for /metrics. */
  samples(): DeploymentSample[] {
    const at = this.now();
    return [...this.known.values()].map((d) => {
      const s = this.stats(d.id);
      return {
        model: d.model,
        deployment: d.id,
        provider: d.provider,
        requests: s.requests,
        failures: s.failures,
        inFlight: s.inFlight,
        latencyMs: s.latencyMs,
        cooldownSeconds: Math.max(0, (s.cooledUntil - at) / 1000),
      };
    });
  }

  /** Whether it is cooling down now, as far as this instance knows. */
  cooling(d: Deployment, at = this.now()): boolean {
    return this.stats(d.id).cooledUntil > at;
  }

  /** Reads the group's shared cooldowns into this instance's copy when it is older than MIRROR_MS (no-op without Redis). */
  async refresh(groupKey: string, deployments: readonly Deployment[]): Promise<void> {
    if (!getRedis() || !redisUsable()) return;
    const at = this.now();
    if (at - (this.mirroredAt.get(groupKey) ?? 0) < MIRROR_MS) return;
    this.mirroredAt.set(groupKey, at);
    try {
      const values = await redisCommand((r) => r.mget(...deployments.map((d) => key(d, "cool"))));
      deployments.forEach((d, i) => {
        const until = Number(values[i] ?? 0);
        const s = this.stats(d.id);
        if (until > s.cooledUntil) {
          s.cooledUntil = until;
          this.changed(d);
        }
      });
    } catch {
      // Redis is failing: this instance's own view holds until it answers again.
    }
  }

  /** A request starts on `d`. */
  started(d: Deployment): void {
    const s = this.stats(d.id);
    s.inFlight++;
    s.requests++;
    this.changed(d);
  }

  /** A latency sample (time to first token, or to the answer) joins the moving average. */
  sample(d: Deployment, latencyMs: number): void {
    const s = this.stats(d.id);
    s.latencyMs = s.latencyMs === undefined ? latencyMs : s.latencyMs + EWMA_ALPHA * (latencyMs - s.latencyMs);
    this.changed(d);
  }

  /** A request on `d` is over (once per `started`). */
  ended(d: Deployment): void {
    const s = this.stats(d.id);
    s.inFlight = Math.max(0, s.inFlight - 1);
    this.changed(d);
  }

  /**
   * It failed in a way that counts against it: counted in the window (Redis when usable, else
   * memory), cooled down at the threshold, or at once for a given Retry-After.
   */
  async failed(d: Deployment, policy: CooldownPolicy, retryAfterMs?: number, elapsedMs?: number): Promise<void> {
    const s = this.stats(d.id);
    s.failures++;
    // A failure is measured too: a deployment that times out must not look fast to the latency strategy.
    if (elapsedMs !== undefined && s.latencyMs !== undefined) s.latencyMs += EWMA_ALPHA * (Math.max(elapsedMs, s.latencyMs) - s.latencyMs);
    const retryAfter = Math.max(0, Math.round(retryAfterMs ?? 0));
    let until: number | undefined;
    if (getRedis() && redisUsable()) {
      try {
        until = Number(
          await redisCommand((r) =>
            runScript(
              r,
              SCRIPTS.failed,
              [key(d, "fail"), key(d, "cool")],
              [policy.failures, policy.windowMs, policy.cooldownMs, retryAfter],
            ),
          ),
        );
      } catch {
        until = undefined;
      }
    }
    if (until === undefined) until = this.failedInMemory(s, policy, retryAfter);
    if (until > s.cooledUntil) s.cooledUntil = until;
    this.changed(d);
  }

  private failedInMemory(s: Local, policy: CooldownPolicy, retryAfter: number): number {
    const at = this.now();
    s.recent = s.recent.filter((t) => t > at - policy.windowMs);
    s.recent.push(at);
    let until = retryAfter > 0 ? at + retryAfter : 0;
    if (s.recent.length >= policy.failures) {
      until = Math.max(until, at + Math.max(policy.cooldownMs, retryAfter));
      s.recent = [];
    }
    return Math.max(until, s.cooledUntil);
  }

  /**
   * Counts a request against `d`'s caps and says whether it was under them (false: skip it, nothing
   * counted). Always true for a deployment without caps, at no cost.
   */
  async take(d: Deployment): Promise<boolean> {
    if (d.rpm === undefined && d.tpm === undefined) return true;
    if (getRedis() && redisUsable()) {
      try {
        const ok = await redisCommand((r) => runScript(r, SCRIPTS.take, capKeys(d, this.now()), [d.rpm ?? 0, d.tpm ?? 0]));
        return Number(ok) === 1;
      } catch {
        // Counted in memory below.
      }
    }
    const s = this.minuteOf(d);
    if (d.tpm !== undefined && s.minuteTokens >= d.tpm) return false;
    if (d.rpm !== undefined && s.minuteRequests >= d.rpm) return false;
    s.minuteRequests++;
    return true;
  }

  /** Adds a call's tokens to `d`'s tokens-per-minute count (no-op without a tpm cap). */
  async addTokens(d: Deployment, tokens: number): Promise<void> {
    if (d.tpm === undefined || tokens <= 0) return;
    if (getRedis() && redisUsable()) {
      try {
        const [, tokenKey] = capKeys(d, this.now());
        await redisCommand((r) => r.multi().incrby(tokenKey!, tokens).pexpire(tokenKey!, 120_000).exec());
        return;
      } catch {
        // Counted in memory below.
      }
    }
    this.minuteOf(d).minuteTokens += tokens;
  }

  /** When the current minute's caps reset (epoch ms). */
  capResetAt(): number {
    return (Math.floor(this.now() / MINUTE_MS) + 1) * MINUTE_MS;
  }

  private minuteOf(d: Deployment): Local {
    const s = this.stats(d.id);
    const minute = Math.floor(this.now() / MINUTE_MS);
    if (s.minute !== minute) {
      s.minute = minute;
      s.minuteRequests = 0;
      s.minuteTokens = 0;
    }
    return s;
  }
}

const prefix = () => `${loadEnv().REDIS_KEY_PREFIX}routing:`;
const key = (d: Deployment, what: "fail" | "cool") => `${prefix()}${what}:{${d.id}}`;
function capKeys(d: Deployment, at: number): string[] {
  const minute = Math.floor(at / MINUTE_MS);
  return [`${prefix()}rpm:{${d.id}}:${minute}`, `${prefix()}tpm:{${d.id}}:${minute}`];
}
