// Browser tests of the dashboard, against a running server: `npm run test:e2e` builds the app,
// starts it on a free port with a fresh embedded database and sets E2E_BASE_URL (scripts/e2e.mjs).
// Uses the system's Chromium (apt-get install chromium); Playwright downloads no browser here.
import { defineConfig, devices } from "@playwright/test";

const ci = Boolean(process.env.CI);

/** Where e2e/auth.setup.ts saves the signed-in session (cookies) that the specs start with. */
const SIGNED_IN_STATE = "e2e/.auth/signed-in.json";

const CHROMIUM_LAUNCH = {
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
  ],
};

/** Options of the REST suite (e2e/rest-api.spec.ts): the API key scripts/e2e.mjs made for each host. */
type RestOptions = { apiKey: string; host: string };

export default defineConfig<RestOptions>({
  testDir: "./e2e",
  outputDir: "./test-results",
  fullyParallel: false,
  workers: 1,
  retries: ci ? 1 : 0,
  forbidOnly: ci,
  reporter: "list",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  use: {
    baseURL: process.env.E2E_BASE_URL ?? "http://localhost:8003",
    // Recording a trace costs 2 to 3 s a test here: only when a failed test is retried (CI).
    trace: "on-first-retry",
    screenshot: "only-on-failure",
  },
  projects: [
    // Signs in once (as the user scripts/e2e.mjs creates) and saves the session for the other specs.
    {
      name: "setup",
      testMatch: /.*\.setup\.ts/,
      use: { launchOptions: CHROMIUM_LAUNCH },
    },
    // The REST suite, once per host of the same build: no browser, the official SDKs and HTTP.
    {
      name: "api-lean",
      testMatch: /rest-api\.spec\.ts/,
      use: { baseURL: process.env.E2E_LEAN_BASE_URL ?? "http://localhost:8003", apiKey: process.env.E2E_LEAN_API_KEY ?? "", host: "lean" },
    },
    {
      name: "api-next",
      testMatch: /rest-api\.spec\.ts/,
      use: { baseURL: process.env.E2E_NEXT_BASE_URL ?? "http://localhost:8004", apiKey: process.env.E2E_NEXT_API_KEY ?? "", host: "next" },
    },
    {
      name: "chromium",
      dependencies: ["setup"],
      testIgnore: /rest-api\.spec\.ts/,
      use: {
        ...devices["Desktop Chrome"],
        storageState: SIGNED_IN_STATE,
        launchOptions: CHROMIUM_LAUNCH,
      },
    },
  ],
});
