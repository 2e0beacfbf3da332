import "server-only";
// OpenTelemetry tracing: when OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT) is set, a tracer
// provider with a batch processor exporting over OTLP/HTTP (the official @opentelemetry packages);
// otherwise nothing is loaded or made, and `tracing()` answers false on the hot path. The spans
// themselves are the calls' (features/usage/call-spans.ts); the processor's final flush is a
// shutdown hook. An export that fails is dropped by the exporter (spans are not usage events).
import { ROOT_CONTEXT, trace, TraceFlags, type Context, type Tracer } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { loadEnv } from "./env.ts";
import { onShutdown } from "./lifecycle.ts";

/** How long one export may take before it is given up. */
const EXPORT_TIMEOUT_MS = 10_000;

type Tracing = { tracer: Tracer; provider: TracerProvider } | null;
const g = globalThis as unknown as { __modelServiceTracing?: Tracing };

/** Whether calls are traced (an OTLP endpoint is configured). */
export function tracing(): boolean {
  return state() !== null;
}

/** The service's tracer, when tracing is on. */
export function tracer(): Tracer | undefined {
  return state()?.tracer;
}

function state(): Tracing {
  if (g.__modelServiceTracing !== undefined) return g.__modelServiceTracing;
  const env = loadEnv();
  const url =
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (env.OTEL_EXPORTER_OTLP_ENDPOINT ? tracesUrl(env.OTEL_EXPORTER_OTLP_ENDPOINT) : undefined);
  if (!url) return (g.__modelServiceTracing = null);
  const exporter = new OTLPTraceExporter({ url, headers: parseHeaders(env.OTEL_EXPORTER_OTLP_HEADERS), timeoutMillis: EXPORT_TIMEOUT_MS });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": env.OTEL_SERVICE_NAME }),
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: 1_000, exportTimeoutMillis: EXPORT_TIMEOUT_MS })],
  });
  onShutdown("telemetry", () => provider.shutdown());
  g.__modelServiceTracing = { tracer: provider.getTracer("model-service"), provider };
  return g.__modelServiceTracing;
}

/** The OTLP/HTTP traces URL under a base endpoint, as the OpenTelemetry exporter specification has it. */
export function tracesUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, "")}/v1/traces`;
}

/** `a=b,c=d` (values percent-decoded, as the specification says) as headers. */
export function parseHeaders(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (text ?? "").split(",")) {
    const at = pair.indexOf("=");
    if (at <= 0) continue;
    const name = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    try {
      out[name] = decodeURIComponent(value);
    } catch {
      out[name] = value;
    }
  }
  return out;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The context of a caller's W3C `traceparent`, so that the call's span continues its trace; else the root. */
export function contextOf(traceparent: string | null | undefined): Context {
  const m = traceparent ? TRACEPARENT.exec(traceparent.trim().toLowerCase()) : null;
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: m[1]!,
    spanId: m[2]!,
    traceFlags: Number.parseInt(m[3]!, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  });
}

/** Forgets the tracer (tests that change the endpoint); its spans are flushed first. */
export async function resetTracingForTests(): Promise<void> {
  const current = g.__modelServiceTracing;
  g.__modelServiceTracing = undefined;
  await current?.provider.shutdown();
}
