import "server-only";
// Requests this server makes to URLs that someone else chose (a user's budget-alert webhook
// today; OIDC discovery, JWKS and OTLP exporters later) must not reach inside the network it runs
// in: loopback, private and link-local ranges, cloud metadata endpoints. Otherwise anyone who can
// save a URL can make the server POST to 127.0.0.1:6379 or 169.254.169.254 and read from the
// outcome which ports are open.
//
// One guard, used twice:
//   - when a URL is saved, `checkOutboundUrl` parses it (WHATWG URL, which already turns every
//     IPv4 spelling — 2130706433, 0x7f.1, 0177.0.0.1, 127.1 — into a dotted quad), resolves its
//     name and refuses any non-public address, with a message that says which and why;
//   - when it is called, `outboundRequest` sends it through an undici Agent whose connector
//     resolves the name itself (a `lookup` hook that refuses non-public answers, so the socket
//     goes to exactly the addresses that were checked: a DNS answer that changes between the
//     check and the call — DNS rebinding — cannot slip through) and checks the connected
//     socket's remote address once more (IP literals skip the lookup). Redirects are never
//     followed, and every request has a deadline.
// An admin can allow private ranges (CIDRs) for a kind of request, e.g. WEBHOOK_ALLOW_PRIVATE for
// webhooks to a receiver on the same network. Cloud metadata addresses stay refused even then.
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP } from "node:net";
import { Agent, buildConnector, request, type Dispatcher } from "undici";

/** The special-purpose ranges (IANA's registries) that are not the public internet, each with what it is. */
const NON_PUBLIC_V4: readonly [string, number, string][] = [
  ["0.0.0.0", 8, "a 'this network' address"],
  ["10.0.0.0", 8, "a private address"],
  ["100.64.0.0", 10, "a shared (carrier-grade NAT) address"],
  ["127.0.0.0", 8, "a loopback address"],
  ["169.254.0.0", 16, "a link-local address"],
  ["172.16.0.0", 12, "a private address"],
  ["192.0.0.0", 24, "an IETF protocol address"],
  ["192.0.2.0", 24, "a documentation address"],
  ["192.88.99.0", 24, "a 6to4 relay address"],
  ["192.168.0.0", 16, "a private address"],
  ["198.18.0.0", 15, "a benchmarking address"],
  ["198.51.100.0", 24, "a documentation address"],
  ["203.0.113.0", 24, "a documentation address"],
  ["224.0.0.0", 4, "a multicast address"],
  ["240.0.0.0", 4, "a reserved address"],
];
const NON_PUBLIC_V6: readonly [string, number, string][] = [
  ["::", 128, "the unspecified address"],
  ["::1", 128, "a loopback address"],
  ["::", 96, "an IPv4-compatible address"],
  ["64:ff9b:1::", 48, "a local NAT64 address"],
  ["100::", 64, "a discard address"],
  ["2001::", 23, "an IETF protocol address"],
  ["2001:db8::", 32, "a documentation address"],
  ["fc00::", 7, "a unique local (private) address"],
  ["fe80::", 10, "a link-local address"],
  ["fec0::", 10, "a site-local address"],
  ["ff00::", 8, "a multicast address"],
];
/** Cloud instance metadata: refused even inside an allowed private range. */
const METADATA_ADDRESSES = ["169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254"];
const METADATA_HOSTS = new Set(["metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"]);

function lists() {
  const v4 = NON_PUBLIC_V4.map(([net, prefix, what]) => ({ list: subnet(net, prefix, "ipv4"), what }));
  const v6 = NON_PUBLIC_V6.map(([net, prefix, what]) => ({ list: subnet(net, prefix, "ipv6"), what }));
  const metadata = new BlockList();
  for (const a of METADATA_ADDRESSES) metadata.addAddress(a, isIP(a) === 6 ? "ipv6" : "ipv4");
  return { v4, v6, metadata };
}
function subnet(net: string, prefix: number, type: "ipv4" | "ipv6"): BlockList {
  const list = new BlockList();
  list.addSubnet(net, prefix, type);
  return list;
}
const RANGES = lists();

/** The IPv4 address an IPv6 one carries (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16), if any. */
function embeddedV4(address: string): string | undefined {
  const groups = expandV6(address);
  if (!groups) return undefined;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zeros = (from: number, to: number) => groups.slice(from, to).every((g) => g === 0);
  if (zeros(0, 5) && groups[5] === 0xffff) return v4(groups[6]!, groups[7]!);
  if (groups[0] === 0x64 && groups[1] === 0xff9b && zeros(2, 6)) return v4(groups[6]!, groups[7]!);
  if (groups[0] === 0x2002) return v4(groups[1]!, groups[2]!);
  return undefined;
}

/** An IPv6 address as its 8 groups, or undefined. */
function expandV6(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const part = (s: string) => (s ? s.split(":").map((g) => parseInt(g, 16)) : []);
  const head = part(halves[0]!);
  const tail = halves.length === 2 ? part(halves[1]!) : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...Array<number>(Math.max(0, fill)).fill(0), ...tail];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

/** What makes `address` not a public internet address, or null when it is one. */
export function nonPublicReason(address: string): string | null {
  const family = isIP(address);
  if (family === 0) return "not an IP address";
  if (RANGES.metadata.check(address, family === 6 ? "ipv6" : "ipv4")) return "a cloud metadata address";
  if (family === 4) return RANGES.v4.find((r) => r.list.check(address, "ipv4"))?.what ?? null;
  const v4 = embeddedV4(address);
  if (v4) {
    const inner = nonPublicReason(v4);
    return inner ? `${inner} (${v4}, inside an IPv6 address)` : null;
  }
  return RANGES.v6.find((r) => r.list.check(address, "ipv6"))?.what ?? null;
}

/** Which addresses a kind of outbound request may reach: the public internet, plus any private ranges an admin allowed. */
export class OutboundPolicy {
  private readonly allowed = new BlockList();

  /** `allowPrivate`: CIDRs (`10.0.0.0/8`, `::1/128`, or a bare address) allowed although not public; `setting` names where they come from. */
  constructor(
    readonly allowPrivate: readonly string[] = [],
    readonly setting = "",
  ) {
    for (const cidr of allowPrivate) {
      const [net, prefix] = cidr.split("/") as [string, string | undefined];
      const family = isIP(net);
      if (family === 0) throw new Error(`not a CIDR range: ${cidr}`);
      this.allowed.addSubnet(net, prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix), family === 4 ? "ipv4" : "ipv6");
    }
  }

  /** Why this policy refuses `address` ("127.0.0.1 is a loopback address …"), or null when it may be reached. */
  refusal(address: string, via?: string): string | null {
    const reason = nonPublicReason(address);
    if (reason === null) return null;
    const family = isIP(address);
    const metadata = reason === "a cloud metadata address";
    if (!metadata && family !== 0 && this.allowed.check(address, family === 4 ? "ipv4" : "ipv6")) return null;
    const hint = this.setting && !metadata ? ` (an admin can allow private ranges with ${this.setting})` : "";
    return via ? `${via} resolves to ${address}, which is ${reason}${hint}` : `${address} is ${reason}${hint}`;
  }
}

/** A refused URL or address; `message` says what to change. */
export class OutboundRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutboundRefusedError";
  }
}

// ---------------------------------------------------------------------------------------------
// Name resolution (injectable, so tests need no DNS; the guard around it is always the real one)

export type Resolve = (hostname: string) => Promise<string[]>;

const RESOLVE_TIMEOUT_MS = 5_000;

const systemResolve: Resolve = (hostname) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new OutboundRefusedError(`${hostname} did not resolve within ${RESOLVE_TIMEOUT_MS / 1000} s`)),
      RESOLVE_TIMEOUT_MS,
    );
    timer.unref();
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses: LookupAddress[]) => {
      clearTimeout(timer);
      if (err) reject(new OutboundRefusedError(`${hostname} does not resolve (${err.code ?? err.message})`));
      else resolve(addresses.map((a) => a.address));
    });
  });

const g = globalThis as unknown as { __modelServiceOutboundResolve?: Resolve; __modelServiceOutboundAgents?: Map<string, Agent> };

/** Tests: answer name lookups from `resolve` instead of the system resolver (undefined: back to it). */
export function setOutboundResolverForTests(resolve: Resolve | undefined): void {
  g.__modelServiceOutboundResolve = resolve;
  for (const agent of g.__modelServiceOutboundAgents?.values() ?? []) void agent.close();
  g.__modelServiceOutboundAgents?.clear();
}

function resolver(): Resolve {
  return g.__modelServiceOutboundResolve ?? systemResolve;
}

/** The addresses `hostname` resolves to, every one allowed by `policy`; refuses the name otherwise. */
async function resolveAllowed(hostname: string, policy: OutboundPolicy): Promise<string[]> {
  const name = hostname.replace(/\.$/, "").toLowerCase();
  if (METADATA_HOSTS.has(name)) throw new OutboundRefusedError(`${hostname} is a cloud metadata host`);
  const literal = name.startsWith("[") ? name.slice(1, -1) : name;
  const addresses = isIP(literal) ? [literal] : await resolver()(name);
  if (addresses.length === 0) throw new OutboundRefusedError(`${hostname} does not resolve to any address`);
  for (const address of addresses) {
    const refusal = policy.refusal(address, isIP(literal) ? undefined : hostname);
    if (refusal) throw new OutboundRefusedError(refusal);
  }
  return addresses;
}

/**
 * Checks a URL before it is saved: http or https, no credentials in it, and a host whose every
 * address `policy` allows. Throws OutboundRefusedError saying what is wrong.
 */
export async function checkOutboundUrl(raw: string, policy: OutboundPolicy): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutboundRefusedError("not a URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new OutboundRefusedError("not an http(s) URL");
  if (url.username || url.password) throw new OutboundRefusedError("a URL with a user name or password in it (put secrets elsewhere)");
  await resolveAllowed(url.hostname, policy);
  return url;
}

// ---------------------------------------------------------------------------------------------
// Sending

const CONNECT_TIMEOUT_MS = 5_000;

/** An Agent that can only connect to addresses `policy` allows (one per policy, kept for keep-alive). */
function agentFor(policy: OutboundPolicy): Agent {
  const agents = (g.__modelServiceOutboundAgents ??= new Map());
  const id = `${policy.setting}|${policy.allowPrivate.join(",")}`;
  const existing = agents.get(id);
  if (existing) return existing;

  // net.connect asks this for every name it connects to; only checked addresses come back.
  const lookup = (hostname: string, options: { all?: boolean; family?: number | string }, callback: (...args: unknown[]) => void) => {
    resolveAllowed(hostname, policy).then(
      (addresses) => {
        const list = addresses.map((address) => ({ address, family: isIP(address) }));
        if (options.all) callback(null, list);
        else callback(null, list[0]!.address, list[0]!.family);
      },
      (err: unknown) => callback(err),
    );
  };
  const connector = buildConnector({ timeout: CONNECT_TIMEOUT_MS, lookup } as buildConnector.BuildOptions);
  const agent = new Agent({
    connect(options, callback) {
      connector(options, (err, socket) => {
        if (err || !socket) return callback(err ?? new Error("no socket"), null);
        // IP literals reach here without the lookup: the connected address is checked either way.
        const refusal = socket.remoteAddress ? policy.refusal(socket.remoteAddress) : "the connected address is unknown";
        if (refusal) {
          socket.destroy();
          return callback(new OutboundRefusedError(refusal), null);
        }
        callback(null, socket);
      });
    },
    connectTimeout: CONNECT_TIMEOUT_MS,
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
    keepAliveTimeout: 10_000,
  });
  agents.set(id, agent);
  return agent;
}

export type OutboundResponse = { status: number };

/**
 * POSTs (or sends `method`) to `url` under `policy`: only to allowed addresses, redirects not
 * followed (a 3xx is the answer), the whole exchange within `timeoutMs`. The answer's body is
 * read and dropped (at most 64 KiB). Rejects with OutboundRefusedError for a refused address,
 * or with the network error.
 */
export async function outboundRequest(
  url: string,
  init: { method?: Dispatcher.HttpMethod; headers?: Record<string, string>; body?: string; timeoutMs: number },
  policy: OutboundPolicy,
): Promise<OutboundResponse> {
  const parsed = new URL(url);
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new OutboundRefusedError("not an http(s) URL");
  const signal = AbortSignal.timeout(init.timeoutMs);
  try {
    const res = await request(parsed, {
      method: init.method ?? "POST",
      headers: init.headers,
      body: init.body,
      dispatcher: agentFor(policy),
      signal,
    });
    await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
    return { status: res.statusCode };
  } catch (err) {
    if (signal.aborted) throw new Error(`no answer within ${init.timeoutMs} ms`, { cause: err });
    // undici wraps what the connector refused; surface the refusal itself.
    const cause = findRefusal(err);
    throw cause ?? err;
  }
}

function findRefusal(err: unknown): OutboundRefusedError | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof OutboundRefusedError) return e;
  }
  return undefined;
}

/** The policy for webhooks: public addresses, plus WEBHOOK_ALLOW_PRIVATE. */
export function webhookPolicy(allowPrivate: readonly string[]): OutboundPolicy {
  return new OutboundPolicy(allowPrivate, "WEBHOOK_ALLOW_PRIVATE");
}

/** Closes the kept connections (shutdown, tests). */
export async function closeOutboundAgents(): Promise<void> {
  const agents = [...(g.__modelServiceOutboundAgents?.values() ?? [])];
  g.__modelServiceOutboundAgents?.clear();
  await Promise.all(agents.map((a) => a.close().catch(() => {})));
}
