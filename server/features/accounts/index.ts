export { authRouter } from "./auth.router.ts";
export { adminAudit } from "./audit.rest.ts";
export { auditRouter } from "./audit.router.ts";
export { keysRouter } from "./keys.router.ts";
export { usersRouter } from "./users.router.ts";
export { createApiKey, listApiKeys } from "./keys.ts";
export { signInWithPassword } from "./login-limits.ts";
export { createFirstAdmin, endAllSessions, endSession, findUserByEmail, listUsers } from "./users.ts";
export { whoami } from "./whoami.rest.ts";
