// One call's deadline and the caller's abort in a single signal. Built on one AbortController and
// one timer that the call clears when it ends: AbortSignal.timeout + AbortSignal.any cost several
// times more on Node 20 (weak references and a finalizer per call; bench/gateway's profile) and
// keep their timer until the signal is collected.

export type Deadline = {
  /** Aborts at the deadline (reason: a TimeoutError DOMException, as AbortSignal.timeout gives) or when the caller aborts (the caller's reason). */
  signal: AbortSignal;
  /** Epoch ms at which the call times out. */
  deadline: number;
  /** Clears the timer and the listener on the caller's signal; call it when the call is over. */
  release(): void;
};

export function startDeadline(timeoutMs: number, callerSignal?: AbortSignal): Deadline {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError")), timeoutMs);
  timer.unref(); // as AbortSignal.timeout's: it never keeps the process alive
  const onAbort = () => controller.abort(callerSignal!.reason);
  if (callerSignal?.aborted) controller.abort(callerSignal.reason);
  else callerSignal?.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    deadline: Date.now() + timeoutMs,
    release() {
      clearTimeout(timer);
      callerSignal?.removeEventListener("abort", onAbort);
    },
  };
}
