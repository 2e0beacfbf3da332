// Node resolution hook for processes that run server/ code outside Next (the server entry point,
// the CLI, benchmarks): the "server-only" marker throws unless the react-server condition is set,
// which those processes must not set globally. Here it resolves to an empty module.
import { register } from "node:module";

register(
  "data:text/javascript," +
    encodeURIComponent(`
export async function resolve(specifier, context, next) {
  if (specifier === "server-only") return { url: "data:text/javascript,export{}", shortCircuit: true };
  return next(specifier, context);
}`),
);
