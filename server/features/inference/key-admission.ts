import "server-only";
// What a key's own controls ask of a model call before it is made (after the allow-list, which is
// checked where the model is resolved): a slot among its requests in flight (access/in-flight.ts)
// and its estimated tokens against its tokens per minute (access/rate-limits.ts). `done` gives the
// slot back and settles the tokens with what the call really used. A caller without such controls
// (every session, JWT and most keys) gets the shared no-op: nothing is counted, nothing allocated.
import type { Identity } from "../../access/identity.ts";
import { takeInFlightSlot } from "../../access/in-flight.ts";
import { chargeKeyTokens } from "../../access/rate-limits.ts";

export type Admission = { done(usedTokens: number): void };

const NOTHING: Admission = Object.freeze({ done() {} });

/** 429 when the key has too many calls in flight or its tokens per minute do not fit `estimate()`. */
export async function admitKeyCall(identity: Identity, estimate: () => number, leaseMs: number): Promise<Admission> {
  if (identity.kind !== "apiKey" || !identity.controls) return NOTHING;
  const slot = await takeInFlightSlot(identity, leaseMs);
  let charge;
  try {
    charge = await chargeKeyTokens(identity, estimate);
  } catch (e) {
    slot.release();
    throw e;
  }
  let ended = false;
  return {
    done(usedTokens: number) {
      if (ended) return;
      ended = true;
      slot.release();
      charge.settle(usedTokens);
    },
  };
}
