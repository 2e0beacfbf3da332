import "server-only";
// The budget ledger in Redis (budget-ledger.ts): one Lua script per reserve and per settle, so
// one round trip each, atomic across every instance on the same Redis. An account is a hash
//   <prefix>{<key>}        used (spent + held), held, h:<hold> = amount, and x:<hold> for a hold
//                          that lapsed before its settle came
//   <prefix>{<key>}:leases a sorted set of its live holds by lease end
// both expiring IDLE_MS after the last use (or at the latest live lease, if later). Amounts are whole
// picodollars as decimal strings; Lua's numbers are doubles, so the scripts never compute with
// them: Redis's own 64-bit HINCRBY does the sums (up to $9.2 million per account) and the
// comparison with the limit is on the digits. The key's braces keep an account's two keys in
// one cluster slot; a reserve touches several accounts, so the ledger wants one Redis, not a cluster.
import type { Redis } from "ioredis";
import { redisScript, runScript } from "../../kernel/redis.ts";
import type { LedgerStore, StoreAccount, StoreReserve } from "./budget-ledger.ts";
import type { Pico } from "../catalogue/index.ts";

// Compares two integers written in decimal (as Redis and BigInt print them).
const CMP = `
local function cmp(a, b)
  local na, nb = a:sub(1, 1) == "-", b:sub(1, 1) == "-"
  if na ~= nb then return na and -1 or 1 end
  if na then a, b = b:sub(2), a:sub(2) end
  if #a ~= #b then return #a < #b and -1 or 1 end
  if a == b then return 0 end
  return a < b and -1 or 1
end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- An account lives IDLE ms past its last use, or to the end of its latest live lease.
local function refresh(h, z, idle)
  local expire = now + idle
  local last = redis.call("ZRANGE", z, -1, -1, "WITHSCORES")
  if last[2] then expire = math.max(expire, tonumber(last[2])) end
  redis.call("PEXPIREAT", h, expire)
  redis.call("PEXPIREAT", z, expire)
end
`;

// KEYS: per account its hash and its lease set. ARGV: hold id, amount, lease ms, idle ms, then
// per account its limit and its seed ("" when none was asked for).
const RESERVE = `${CMP}
local id, amount, lease, idle = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local n = #KEYS / 2
local unknown = {}
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call("EXISTS", h) == 0 then
    local seed = ARGV[4 + 2 * i]
    if seed == "" then
      unknown[#unknown + 1] = tostring(i - 1)
    else
      redis.call("DEL", z)
      redis.call("HSET", h, "used", seed, "held", "0")
      refresh(h, z, idle)
    end
  end
end
if #unknown > 0 then return {"seed", unpack(unknown)} end
-- Lapsed holds stop counting; a settle that still comes adds what its call cost.
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local lapsed = redis.call("ZRANGEBYSCORE", z, "-inf", now)
  for _, hid in ipairs(lapsed) do
    local held = redis.call("HGET", h, "h:" .. hid)
    if held then
      redis.call("HINCRBY", h, "used", "-" .. held)
      redis.call("HINCRBY", h, "held", "-" .. held)
      redis.call("HDEL", h, "h:" .. hid)
      redis.call("HSET", h, "x:" .. hid, "1")
    end
  end
  if #lapsed > 0 then redis.call("ZREMRANGEBYSCORE", z, "-inf", now) end
end
for i = 1, n do
  local h = KEYS[2 * i - 1]
  redis.call("HINCRBY", h, "used", amount)
  if cmp(redis.call("HGET", h, "used"), ARGV[3 + 2 * i]) > 0 then
    for j = 1, i do redis.call("HINCRBY", KEYS[2 * j - 1], "used", "-" .. amount) end
    return {"refused", tostring(i - 1), redis.call("HGET", h, "used"), redis.call("HGET", h, "held")}
  end
end
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call("HINCRBY", h, "held", amount)
  redis.call("HSET", h, "h:" .. id, amount)
  redis.call("ZADD", z, now + lease, id)
  refresh(h, z, idle)
end
return {"ok"}
`;

// KEYS: per account its hash and its lease set. ARGV: hold id, actual cost, idle ms.
const SETTLE = `${CMP}
local id, actual, idle = ARGV[1], ARGV[2], tonumber(ARGV[3])
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local held = redis.call("HGET", h, "h:" .. id)
  if held then
    redis.call("HINCRBY", h, "used", actual)
    redis.call("HINCRBY", h, "used", "-" .. held)
    redis.call("HINCRBY", h, "held", "-" .. held)
    redis.call("HDEL", h, "h:" .. id)
    redis.call("ZREM", z, id)
  elseif redis.call("HDEL", h, "x:" .. id) == 1 then
    redis.call("HINCRBY", h, "used", actual)
  end
  if redis.call("EXISTS", h) == 1 then refresh(h, z, idle) end
end
return "ok"
`;

// KEYS: the account's hash and lease set. Returns used, held and the live holds' amounts.
const BALANCE = `${CMP}
local h, z = KEYS[1], KEYS[2]
if redis.call("EXISTS", h) == 0 then return false end
local live = redis.call("ZRANGEBYSCORE", z, "(" .. now, "+inf")
local amounts = {}
for _, hid in ipairs(live) do amounts[#amounts + 1] = redis.call("HGET", h, "h:" .. hid) or "0" end
return {redis.call("HGET", h, "used"), redis.call("HGET", h, "held"), unpack(amounts)}
`;

const SCRIPTS = { reserve: redisScript(RESERVE), settle: redisScript(SETTLE), balance: redisScript(BALANCE) };

export function createRedisLedgerStore(redis: Redis, prefix: string): LedgerStore {
  const keysOf = (key: string) => [`${prefix}{${key}}`, `${prefix}{${key}}:leases`];
  return {
    name: "redis",

    async reserve(holdId: string, accounts: readonly StoreAccount[], amount: Pico, leaseMs: number, idleMs: number): Promise<StoreReserve> {
      const keys = accounts.flatMap((a) => keysOf(a.key));
      const args = [
        holdId,
        amount.toString(),
        leaseMs,
        idleMs,
        ...accounts.flatMap((a) => [a.limit.toString(), a.seed === undefined ? "" : a.seed.toString()]),
      ];
      const r = (await runScript(redis, SCRIPTS.reserve, keys, args)) as string[];
      if (r[0] === "ok") return { status: "ok" };
      if (r[0] === "seed") return { status: "seed", indexes: r.slice(1).map(Number) };
      const used = BigInt(r[2]!);
      const held = BigInt(r[3]!);
      return { status: "refused", index: Number(r[1]), spent: used - held, held };
    },

    async settle(holdId: string, keys: readonly string[], actual: Pico, idleMs: number): Promise<void> {
      await runScript(redis, SCRIPTS.settle, keys.flatMap(keysOf), [holdId, actual.toString(), idleMs]);
    },

    async balance(key: string) {
      const r = (await runScript(redis, SCRIPTS.balance, keysOf(key), [])) as string[] | null;
      if (!r) return null;
      // Holds that lapsed but were not yet swept by a reserve are still in `held`: count the live ones.
      const held = r.slice(2).reduce((sum, a) => sum + BigInt(a), 0n);
      return { spent: BigInt(r[0]!) - BigInt(r[1]!), held };
    },
  };
}
