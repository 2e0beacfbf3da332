import { describe, expect, it } from "vitest";
import { auditActorColumns, MASKED, maskSecrets } from "./audit.ts";

describe("maskSecrets", () => {
  it("masks every field named for a secret, at any depth, and keeps the rest", () => {
    const masked = maskSecrets({
      keyHash: "abc",
      passwordHash: "scrypt$…",
      password: "hunter22",
      webhookSecret: "whsec_x",
      secretTail: "…1234",
      secrets: ["api_key"],
      provider: { api_key: "sk-1", headers: { authorization: "Bearer x" }, endpoint: "https://x" },
      apiKeyId: "k1",
      maxOutputTokens: 4096,
      tpmLimit: 100,
      at: new Date("2026-12-04T00:00:00Z"),
      nested: [{ token: "t", name: "n" }],
    });
    expect(masked).toEqual({
      keyHash: MASKED,
      passwordHash: MASKED,
      password: MASKED,
      webhookSecret: MASKED,
      secretTail: MASKED,
      secrets: MASKED,
      provider: { api_key: MASKED, headers: MASKED, endpoint: "https://x" },
      apiKeyId: "k1",
      maxOutputTokens: 4096,
      tpmLimit: 100,
      at: "2026-12-04T00:00:00.000Z",
      nested: [{ token: MASKED, name: "n" }],
    });
  });

  it("names the actor: a user's session, a key (its owner's id), the CLI, no one", () => {
    expect(auditActorColumns({ kind: "session", userId: "u1", apiKeyId: null, email: "a@b.c" })).toEqual({
      actorKind: "user",
      actorId: "u1",
      actorLabel: "a@b.c",
    });
    expect(auditActorColumns({ kind: "apiKey", userId: null, apiKeyId: "k1" })).toEqual({
      actorKind: "api_key",
      actorId: "k1",
      actorLabel: "key k1",
    });
    expect(auditActorColumns({ kind: "cli" })).toEqual({ actorKind: "cli", actorId: null, actorLabel: "cli" });
  });
});
