-- Providers an admin configures at run time (dashboard, tRPC): their settings, and their secrets
-- encrypted with AES-256-GCM under a key derived from SECRETS_KEY (server/providers/credentials/).

-- CreateTable
CREATE TABLE "provider_credentials" (
    "id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "settings" JSONB NOT NULL,
    "secret" TEXT NOT NULL,
    "secret_tail" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "provider_credentials_pkey" PRIMARY KEY ("id")
);
