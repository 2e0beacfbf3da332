// The `x-model-service-deployment` answer header: the id of the deployment (features/routing) that
// answered, never a key. Told by the generation before its first event, so a stream's headers carry it too.
export const DEPLOYMENT_HEADER = "x-model-service-deployment";

export function deploymentTracker(): { onDeployment: (id: string) => void; headers: () => Record<string, string> } {
  let deployment: string | undefined;
  return {
    onDeployment: (id) => {
      deployment = id;
    },
    headers: (): Record<string, string> => (deployment ? { [DEPLOYMENT_HEADER]: deployment } : {}),
  };
}
