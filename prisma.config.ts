// Prisma CLI configuration. The schema engine cannot be downloaded on every machine, so
// migrations are applied by our own runner (`npm run cli -- db migrate`); `prisma migrate deploy`
// works the same on a machine that has the engine.
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://localhost:5432/model_service" },
});
