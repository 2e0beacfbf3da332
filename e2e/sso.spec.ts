// Single sign-on end to end in the browser: a real OpenID Connect provider (the `oidc-provider`
// package, started here on the port scripts/e2e.mjs configured as AUTH_OIDC_ISSUER of a server of
// its own) signs people in; the service creates the user on the first sign-in (AUTH_OIDC_ALLOW_SIGNUP),
// maps the groups claim to the admin role and to the right team with the right role, refuses an
// e-mail domain outside AUTH_OIDC_ALLOWED_DOMAINS, and lets the person in again on the next sign-in.
import { createServer, type Server } from "node:http";
import { exportJWK, generateKeyPair } from "jose";
import Provider from "oidc-provider";
import { expect, test } from "@playwright/test";

const base = process.env.E2E_OIDC_BASE_URL ?? "";
const adminKey = process.env.E2E_OIDC_API_KEY ?? "";
const issuerPort = Number(process.env.E2E_OIDC_ISSUER_PORT ?? 0);

/** The provider's people: their claims, as an identity provider would hold them. */
const ACCOUNTS: Record<string, { email: string; email_verified: boolean; name: string; groups: string[] }> = {
  ada: {
    email: "ada@sso.example.com",
    email_verified: true,
    name: "Ada Lovelace",
    groups: ["team:research:owner", "team:nowhere", "model-service-admins"],
  },
  grace: { email: "grace@sso.example.com", email_verified: true, name: "Grace Hopper", groups: ["team:research:viewer"] },
  eve: { email: "eve@elsewhere.example", email_verified: true, name: "Eve", groups: ["team:research"] },
};

let issuer: Server | undefined;

test.describe("single sign-on through an OpenID Connect provider", () => {
  // A browser of its own: not the password user's session of the main server.
  test.use({ storageState: { cookies: [], origins: [] } });

  test.beforeAll(async ({ request }) => {
    if (!base || !adminKey || !issuerPort) throw new Error("E2E_OIDC_* are set by `npm run test:e2e` (scripts/e2e.mjs)");
    const { privateKey } = await generateKeyPair("RS256", { extractable: true });
    const provider = new Provider(`http://127.0.0.1:${issuerPort}`, {
      clients: [
        {
          client_id: process.env.E2E_OIDC_CLIENT_ID!,
          client_secret: process.env.E2E_OIDC_CLIENT_SECRET!,
          redirect_uris: [`${base}/api/auth/callback/oidc`],
          grant_types: ["authorization_code"],
          response_types: ["code"],
        },
      ],
      jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: "e2e", alg: "RS256", use: "sig" }] },
      cookies: { keys: ["e2e-oidc-provider-cookie-key"] },
      claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"], groups: ["groups"] },
      // The groups and the e-mail in the ID token itself (many providers do; next-auth reads the ID token).
      conformIdTokenClaims: false,
      async findAccount(_ctx, id) {
        const person = ACCOUNTS[id];
        if (!person) return undefined;
        return { accountId: id, claims: async () => ({ sub: id, ...person }) };
      },
    });
    issuer = createServer(provider.callback());
    await new Promise<void>((resolve) => issuer!.listen(issuerPort, "127.0.0.1", resolve));
    // The team the groups name; "nowhere" is not created and is skipped.
    const created = await request.post(`${base}/v1/teams`, {
      headers: { authorization: `Bearer ${adminKey}` },
      data: { name: "research", budget_usd: "50" },
    });
    // 409: made by an earlier run of this hook (Playwright starts a new worker after a failure).
    expect([200, 409], await created.text()).toContain(created.status());
  });

  test.afterAll(async () => {
    if (issuer) await new Promise<void>((resolve) => (issuer!.closeAllConnections(), issuer!.close(() => resolve())));
  });

  /** From the service's sign-in page through the provider's login and consent, as `login`. */
  async function signInThroughProvider(page: import("@playwright/test").Page, login: string) {
    await page.goto(`${base}/login`);
    await page.getByRole("button", { name: "Continue with single sign-on" }).click();
    await expect(page).toHaveURL(new RegExp(`^http://127\\.0\\.0\\.1:${issuerPort}/interaction/`));
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill("any password");
    await page.getByRole("button", { name: "Sign-in" }).click();
    const consent = page.getByRole("button", { name: "Continue" });
    // The provider asks for consent the first time a person uses this client.
    if (await consent.isVisible({ timeout: 5_000 }).catch(() => false)) await consent.click();
  }

  test("creates the user on the first sign-in, an admin from the groups claim, in the right team as its owner", async ({ page }) => {
    await signInThroughProvider(page, "ada");
    await expect(page).toHaveURL(new RegExp(`^${base}/`));
    await expect(page.getByRole("heading", { level: 1, name: "Usage" })).toBeVisible();
    // The groups made Ada an admin: the admins' pages are in her navigation.
    await expect(page.getByRole("link", { name: "Audit" })).toBeVisible();
    await page.getByRole("link", { name: "Teams" }).click();
    const row = page.getByTestId("team-row").filter({ hasText: "research" });
    await expect(row).toBeVisible();
    await expect(row.getByRole("cell").nth(1)).toHaveText("owner");
    await row.getByRole("link", { name: "research" }).click();
    await expect(page.getByRole("heading", { level: 1, name: "Team research" })).toBeVisible();
    await expect(page.getByTestId("member-row").filter({ hasText: "ada@sso.example.com" })).toBeVisible();
    // The audit log has her first sign-in: the account, the membership and the sign-in itself.
    const audit = await page.request.get(`${base}/v1/admin/audit?actor=ada@sso.example.com`, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    const actions = ((await audit.json()) as { events: { action: string }[] }).events.map((e) => e.action);
    expect(actions.sort()).toEqual(["login.success", "team.member_add", "user.create"].sort());
  });

  test("a viewer from the groups lands in the team as a viewer, and cannot create its keys", async ({ page }) => {
    await signInThroughProvider(page, "grace");
    await expect(page.getByRole("heading", { level: 1, name: "Usage" })).toBeVisible();
    await expect(page.getByRole("link", { name: "Audit" })).toHaveCount(0);
    await page.goto(`${base}/teams/research`);
    await expect(page.getByTestId("team-role")).toHaveText("viewer");
    await expect(page.getByRole("button", { name: "Create team key" })).toHaveCount(0);
    await expect(page.getByText("Viewers see the team's keys and usage")).toBeVisible();
    // Signing in again changes nothing and still works.
    await page.context().clearCookies({ domain: "127.0.0.1" });
    await signInThroughProvider(page, "grace");
    await expect(page.getByRole("heading", { level: 1, name: "Usage" })).toBeVisible();
  });

  test("refuses an e-mail domain that is not allowed, creating no one", async ({ page, request }) => {
    await signInThroughProvider(page, "eve");
    await expect(page).toHaveURL(new RegExp(`^${base}/login\\?.*error=AccessDenied`));
    await expect(page.getByRole("alert").filter({ hasText: "no access" })).toHaveText("That account has no access here.");
    const teams = await request.get(`${base}/v1/teams/research`, { headers: { authorization: `Bearer ${adminKey}` } });
    const members = ((await teams.json()) as { member_list: { email: string }[] }).member_list.map((m) => m.email).sort();
    expect(members).toEqual(["ada@sso.example.com", "grace@sso.example.com"]);
  });
});
