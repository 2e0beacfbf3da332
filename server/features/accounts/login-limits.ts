import "server-only";
// Brakes on password guessing at the dashboard's sign-in, counted in failed attempts:
//   - per client address (`login-client`, 20 failures per 15 minutes over all accounts): guesses
//     spread over many emails from one place are limited; a client over it is refused outright;
//   - per account (`login`, 10 failures per 5 minutes from anywhere): once an account has had that
//     many, a client that has itself failed in its window (any account) may not try it again until
//     the windows pass — but a client that has not failed still may, so the right password from
//     the account's owner is never locked out by someone guessing elsewhere. A guesser gets one
//     try per fresh address at most, and each try marks that address as failed.
// Each attempt is counted before the password is checked (so a burst of concurrent guesses cannot
// all pass a check made before any of them is counted) and given back when it succeeds. When the
// client address is unknown (served by Next alone without TRUST_PROXY, see
// server/access/client-address.ts), nothing tells clients apart: the account's limit then stops
// every attempt, as a lock must when it cannot tell the owner from the guesser.
// Counters live with the other rate limits: in process, or in Redis when REDIS_URL is set.
import { getLogger } from "../../kernel/logger.ts";
import { recordRateLimitRejection } from "../../kernel/metrics.ts";
import { namedLimiter, type PointCounter } from "../../access/rate-limits.ts";
import { type UserRecord } from "../../access/user-lookup.ts";
import { verifyCredentials } from "./users.ts";
import { getDb } from "../../db/index.ts";
import { writeAudit } from "../../db/audit.ts";

type Counted = { limiter: PointCounter; key: string };

/** Adds one point; `over` when that went past the limit; `before`: the points already counted. */
async function count(limiter: PointCounter, key: string): Promise<{ over: boolean; before: number }> {
  const { res, allowed } = await limiter.consume(key);
  return { over: !allowed, before: Math.max(0, res.consumedPoints - 1) };
}

async function giveBack(counted: Counted[]): Promise<void> {
  await Promise.all(
    counted.map((c) =>
      c.limiter.reward(c.key).catch((err: unknown) => getLogger().warn({ err }, "could not give back a sign-in attempt's count")),
    ),
  );
}

/**
 * Signs in with an email and password from `client` (an address bucket, or null when unknown)
 * under the limits above: the user, or null for a wrong password, an unknown email or a refused
 * attempt (the answer does not tell which).
 */
export async function signInWithPassword(email: string, password: string, client: string | null): Promise<UserRecord | null> {
  const account = `email:${email.trim().toLowerCase()}`;
  const counted: Counted[] = [];
  let clientFailures = 0;

  const perClient = client === null ? undefined : await namedLimiter("login-client");
  if (perClient && client !== null) {
    const key = `client:${client}`;
    const c = await count(perClient.limiter, key);
    if (c.over) {
      recordRateLimitRejection("login-client");
      return null;
    }
    counted.push({ limiter: perClient.limiter, key });
    clientFailures = c.before;
  }
  const perAccount = await namedLimiter("login");
  if (perAccount) {
    const a = await count(perAccount.limiter, account);
    if (a.over && (client === null || clientFailures > 0)) {
      recordRateLimitRejection("login");
      return null;
    }
    counted.push({ limiter: perAccount.limiter, key: account });
  }

  const user = await verifyCredentials(email, password);
  // Only failures count: a success gives its points back.
  if (user) await giveBack(counted);
  await auditSignIn(email, user);
  return user;
}

/**
 * One audit row per checked sign-in (attempts refused by the limits above are not checked, and
 * leave none): who signed in, or which email failed. Never the password. A row that cannot be
 * written does not decide the sign-in.
 */
async function auditSignIn(email: string, user: UserRecord | null): Promise<void> {
  try {
    const db = await getDb();
    const shown = email.trim().toLowerCase().slice(0, 254);
    if (user) {
      await writeAudit(db, {
        actor: { kind: "session", userId: user.id, apiKeyId: null, email: user.email },
        action: "login.success",
        target: { kind: "user", id: user.id },
      });
    } else {
      await writeAudit(db, {
        actor: { kind: "anonymous" },
        action: "login.failure",
        target: { kind: "user", id: null },
        after: { email: shown },
      });
    }
  } catch (err) {
    getLogger().warn({ err }, "could not write a sign-in's audit row");
  }
}
