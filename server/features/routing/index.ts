export {
  DEFAULT_POLICY,
  declaredDeployments,
  deploymentGroup,
  type Deployment,
  type DeploymentGroup,
  type RoutingPolicy,
  type Strategy,
} from "./deployments.ts";
export type { DeploymentStats } from "./health.ts";
export { Attempt, deploymentFailed, deploymentHealth, resetRoutingForTests, Route, routeFor, type RouteChoice } from "./router.ts";
export { deploymentsOverview, type DeploymentView, type ModelDeployments } from "./overview.ts";
export { routingRouter } from "./routing.router.ts";
export {
  deleteStoredDeployment,
  deploymentEntrySchema,
  listStoredDeployments,
  saveStoredDeployment,
  startStoredDeployments,
  type DeploymentEntry,
  type StoredDeployment,
} from "./stored-deployments.ts";
