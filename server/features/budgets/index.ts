export { budgetAlertsRouter } from "./budget-alerts.router.ts";
export { budgetStates, reserveBudgets, type Reservation } from "./budgets.ts";
