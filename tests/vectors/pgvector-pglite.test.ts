// The contract on pgvector in an embedded PGlite (the default with nothing configured).
import { createTestDatabase } from "../support/db.ts";
import { PgVectorStore } from "@/server/vectors/pgvector.ts";
import { vectorStoreContract } from "./contract.ts";

vectorStoreContract("pgvector on PGlite", async () => {
  const db = await createTestDatabase("pglite");
  return { store: new PgVectorStore({ db: async () => db }), close: () => db.destroy() };
});
