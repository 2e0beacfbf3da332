// A wire-level emulator of the Microsoft identity platform's token endpoint, for Azure OpenAI's
// Entra ID sign-in by a service principal (server/providers/azure-openai/entra.ts):
//   POST /{tenant}/oauth2/v2.0/token   application/x-www-form-urlencoded
//        grant_type=client_credentials&client_id=...&client_secret=...&scope=https://cognitiveservices.azure.com/.default
//   200  {"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"..."}
// and its errors as the platform answers them: {"error", "error_description": "AADSTSnnnn: ...",
// "error_codes", "timestamp", "trace_id", "correlation_id"} (400 for a bad request or an unknown
// tenant or client, 401 invalid_client for a wrong secret). `hang` holds every request unanswered.
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type EntraEmulatorOptions = { tenantId: string; clientId: string; clientSecret: string; accessToken: string; expiresIn?: number };

export type EntraEmulator = {
  /** The authority host (AZURE_AUTHORITY_HOST). */
  url: string;
  /** The token requests received, their form fields (the secret included, for the test to compare). */
  requests: { path: string; contentType: string | undefined; form: Record<string, string> }[];
  hang: boolean;
  close(): Promise<void>;
};

function aadError(res: ServerResponse, status: number, error: string, code: number, description: string): void {
  const trace = randomUUID();
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "x-ms-request-id": trace });
  res.end(
    JSON.stringify({
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${trace} Correlation ID: ${randomUUID()} Timestamp: ${new Date().toISOString()}`,
      error_codes: [code],
      timestamp: new Date().toISOString().replace("T", " ").replace("Z", "Z"),
      trace_id: trace,
      correlation_id: randomUUID(),
    }),
  );
}

export async function startEntraEmulator(options: EntraEmulatorOptions): Promise<EntraEmulator> {
  const held: ServerResponse[] = [];
  const emulator: EntraEmulator = { url: "", requests: [], hang: false, close: async () => {} };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = "";
    req.on("data", (d: Buffer) => (raw += d.toString()));
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://entra").pathname;
      const form = Object.fromEntries(new URLSearchParams(raw));
      emulator.requests.push({ path, contentType: req.headers["content-type"], form });
      if (emulator.hang) return void held.push(res);
      const m = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
      if (req.method !== "POST" || !m) return aadError(res, 404, "invalid_request", 900561, "The endpoint only accepts POST requests.");
      if (!req.headers["content-type"]?.startsWith("application/x-www-form-urlencoded")) {
        return aadError(res, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.");
      }
      if (decodeURIComponent(m[1]!) !== options.tenantId) {
        return aadError(res, 400, "invalid_request", 90002, `Tenant '${decodeURIComponent(m[1]!)}' not found.`);
      }
      if (form.grant_type !== "client_credentials") {
        return aadError(res, 400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.");
      }
      if (!form.scope?.endsWith("/.default")) {
        return aadError(
          res,
          400,
          "invalid_scope",
          1002012,
          "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
        );
      }
      if (form.client_id !== options.clientId) {
        return aadError(
          res,
          400,
          "unauthorized_client",
          700016,
          `Application with identifier '${form.client_id ?? ""}' was not found in the directory.`,
        );
      }
      if (form.client_secret !== options.clientSecret) {
        return aadError(
          res,
          401,
          "invalid_client",
          7000215,
          "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        );
      }
      res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
      res.end(
        JSON.stringify({
          token_type: "Bearer",
          expires_in: options.expiresIn ?? 3599,
          ext_expires_in: options.expiresIn ?? 3599,
          access_token: options.accessToken,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  emulator.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  emulator.close = () =>
    new Promise<void>((resolve) => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return emulator;
}
