import type { Metadata } from "next";
import { headers } from "next/headers";
import { BudgetAlertSettings, BudgetAlertsBanner } from "@/components/budgets/budget-alerts";
import { KeysManager } from "@/components/accounts/keys-manager";
import { PageHeader } from "@/components/shared/page-header";
import { callerFor } from "@/server/api/server-caller";

export const metadata: Metadata = { title: "API keys" };
export const dynamic = "force-dynamic";

export default async function KeysPage() {
  const caller = await callerFor(new Headers(await headers()));
  const [keys, me] = await Promise.all([caller.keys.list({ includeRevoked: true }), caller.auth.me()]);
  return (
    <>
      <PageHeader
        title="API keys"
        description="Keys that other services and scripts use to call the gateway, with their tier, scopes, budget and last use."
      />
      <BudgetAlertsBanner />
      <KeysManager initialKeys={keys} isAdmin={me.role === "admin"} tier={me.tier} />
      <BudgetAlertSettings
        keys={keys.filter((k) => !k.revokedAt && (k.userId === me.userId || me.role === "admin")).map((k) => ({ id: k.id, name: k.name }))}
      />
    </>
  );
}
