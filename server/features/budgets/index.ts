export { budgetAlertsRouter } from "./budget-alerts.router.ts";
export { budgetStates, reserveBudgets, teamPeriodSpend, type Reservation } from "./budgets.ts";
