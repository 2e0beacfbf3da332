// `npm run emulator [-- --port 4010 --host 127.0.0.1 --openai-key K --anthropic-key K --no-auth]`:
// OpenAI and Anthropic, and the cloud vendors' protocols on the same port (Azure OpenAI, Bedrock,
// Gemini API, Vertex AI: see cloud-emulators.ts), with the default credentials printed below.
// the provider emulator by hand, for the dev server, benchmarks or curl. Ctrl-C stops it.
import { parseArgs } from "node:util";
import { startProviderEmulator } from "./provider-emulator.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: process.env.EMULATOR_PORT ?? "4010" },
    host: { type: "string", default: "127.0.0.1" },
    "openai-key": { type: "string" },
    "anthropic-key": { type: "string" },
    "no-auth": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});

if (values.help) {
  console.log("Usage: npm run emulator -- [--port 4010] [--host 127.0.0.1] [--openai-key K] [--anthropic-key K] [--no-auth]");
  console.log("Faults and deterministic behaviour: see the top of tests/emulators/provider-emulator.ts.");
  process.exit(0);
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be a port number from 0 to 65535, not ${values.port}`);
  process.exit(2);
}

const emulator = await startProviderEmulator({
  port,
  host: values.host,
  openaiKey: values["no-auth"] ? null : values["openai-key"],
  anthropicKey: values["no-auth"] ? null : values["anthropic-key"],
  ...(values["no-auth"] ? { azureKey: null, bedrockAccessKeyId: null, geminiKey: null, vertexToken: null } : {}),
  // Run by hand (often under load): keep no request log.
  maxLogEntries: 0,
});

console.log(`Provider emulator listening on ${emulator.url}`);
console.log(`  OPENAI_BASE_URL=${emulator.openaiBaseUrl} OPENAI_API_KEY=${emulator.openaiKey ?? "(any)"}`);
console.log(`  ANTHROPIC_BASE_URL=${emulator.anthropicBaseUrl} ANTHROPIC_API_KEY=${emulator.anthropicKey ?? "(any)"}`);
const c = emulator.cloud;
console.log(`  AZURE_OPENAI_ENDPOINT=${c.azureEndpoint} AZURE_OPENAI_API_KEY=${c.azureKey ?? "(any)"} OPENAI_API_VERSION=2024-10-21`);
console.log(
  `  AWS_ENDPOINT_URL_BEDROCK_RUNTIME=${c.bedrockEndpoint} AWS_REGION=${c.bedrockRegion} AWS_ACCESS_KEY_ID=${c.bedrockAccessKeyId ?? "(any)"} AWS_SECRET_ACCESS_KEY=${c.bedrockSecretAccessKey}`,
);
console.log(`  GEMINI_BASE_URL=${c.googleBaseUrl} GEMINI_API_KEY=${c.geminiKey ?? "(any)"}`);
console.log(`  Vertex: project ${c.vertexProject}, location ${c.vertexLocation}, bearer ${c.vertexToken ?? "(any)"}`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void emulator.close().then(() => process.exit(0));
  });
}
