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

export default defineConfig({
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
    {
      name: "chromium",
      dependencies: ["setup"],
      use: {
        ...devices["Desktop Chrome"],
        storageState: SIGNED_IN_STATE,
        launchOptions: CHROMIUM_LAUNCH,
      },
    },
  ],
});
