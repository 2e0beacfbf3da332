import "server-only";
// Microsoft Entra ID access tokens for Azure OpenAI, by the OAuth 2.0 client-credentials grant of
// a service principal (a tenant, an app registration's client id and a client secret): the
// variables @azure/identity's EnvironmentCredential reads (AZURE_TENANT_ID, AZURE_CLIENT_ID,
// AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST), or a file provider's tenant_id, client_id,
// client_secret, authority_host. The token is cached until five minutes before it expires;
// callers waiting at the same time share one token request, which has a deadline.
import { getProviderFetch, type ProviderFetch } from "../http.ts";
import { fromConnectionError, scrubSecrets } from "../errors.ts";
import { ProviderError } from "../types.ts";

export const ENTRA_DEFAULT_AUTHORITY = "https://login.microsoftonline.com";
/** The scope of Azure OpenAI (Cognitive Services). */
export const AZURE_OPENAI_SCOPE = "https://cognitiveservices.azure.com/.default";
const TOKEN_TIMEOUT_MS = 15_000;
/** A token is renewed this long before it expires. */
const RENEW_BEFORE_MS = 5 * 60_000;

export type EntraCredentials = {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** The identity platform's host (sovereign clouds: https://login.microsoftonline.us ...). */
  authorityHost?: string;
  fetch?: ProviderFetch;
  timeoutMs?: number;
  /** The Azure provider the token is for (a refused sign-in is its last error). */
  providerId?: string;
};

type TokenAnswer = { access_token?: unknown; expires_in?: unknown; token_type?: unknown; error?: unknown; error_description?: unknown };

/** A token provider for AzureOpenAI's `azureADTokenProvider`. Failures are ProviderErrors without the secret. */
export function entraTokenProvider(credentials: EntraCredentials, now: () => number = Date.now): () => Promise<string> {
  const ctx = {
    providerId: credentials.providerId ?? "azure-openai",
    providerName: "Microsoft Entra ID",
    secrets: [credentials.clientSecret],
  };
  const url = `${(credentials.authorityHost ?? ENTRA_DEFAULT_AUTHORITY).replace(/\/+$/, "")}/${encodeURIComponent(credentials.tenantId)}/oauth2/v2.0/token`;
  let cached: { token: string; renewAt: number } | undefined;
  let pending: Promise<string> | undefined;

  async function request(): Promise<string> {
    const fetch = credentials.fetch ?? getProviderFetch();
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: credentials.clientId,
          client_secret: credentials.clientSecret,
          scope: AZURE_OPENAI_SCOPE,
        }).toString(),
        signal: AbortSignal.timeout(credentials.timeoutMs ?? TOKEN_TIMEOUT_MS),
      });
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      throw fromConnectionError(ctx, error, timedOut);
    }
    let body: TokenAnswer;
    try {
      body = (await res.json()) as TokenAnswer;
    } catch {
      throw new ProviderError(`Microsoft Entra ID answered ${res.status} without a JSON body`, "auth", res.status, false);
    }
    if (!res.ok || typeof body.access_token !== "string" || !body.access_token) {
      // AADSTS codes name the problem (7000215: invalid client secret; 700016: unknown client id; 90002: unknown tenant).
      const detail =
        typeof body.error_description === "string" ? body.error_description.split(/\r?\n/)[0]! : String(body.error ?? "no token");
      const retryable = res.status >= 500 || res.status === 429;
      throw new ProviderError(
        scrubSecrets(`Microsoft Entra ID refused the token request (${res.status}): ${detail}`, ctx.secrets),
        retryable ? "server" : "auth",
        res.status,
        retryable,
      );
    }
    const lifetimeMs = (typeof body.expires_in === "number" ? body.expires_in : Number(body.expires_in) || 3600) * 1000;
    cached = { token: body.access_token, renewAt: now() + Math.max(lifetimeMs - RENEW_BEFORE_MS, lifetimeMs / 2) };
    return body.access_token;
  }

  return async () => {
    if (cached && now() < cached.renewAt) return cached.token;
    pending ??= request().finally(() => (pending = undefined));
    return pending;
  };
}

/**
 * The Azure provider's Entra options from a service principal's settings: none when no setting is
 * given, the token provider when all are, and when only some are, the problem (the provider is
 * then unavailable, naming the first missing setting).
 */
export function azureEntra(
  settings: { tenantId?: string; clientId?: string; clientSecret?: string; authorityHost?: string },
  names: { tenantId: string; clientId: string; clientSecret: string },
  fetch?: ProviderFetch,
  providerId?: string,
): { entraToken?: () => Promise<string>; entraProblem?: string } {
  const { tenantId, clientId, clientSecret, authorityHost } = settings;
  if (!tenantId && !clientId && !clientSecret) return {};
  const missing = !tenantId ? names.tenantId : !clientId ? names.clientId : !clientSecret ? names.clientSecret : undefined;
  if (missing)
    return { entraProblem: `${missing} is not set (a Microsoft Entra ID service principal needs a tenant, a client id and a secret)` };
  return {
    entraToken: entraTokenProvider({
      tenantId: tenantId!,
      clientId: clientId!,
      clientSecret: clientSecret!,
      authorityHost,
      fetch,
      providerId,
    }),
  };
}
