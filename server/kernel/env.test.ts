import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { SERVER_NODE_ARGS } from "@/tests/support/server-process.ts";
import { EnvError, parseEnv } from "./env.ts";

describe("parseEnv", () => {
  it("applies DESIGN.md's defaults when nothing is set", () => {
    const env = parseEnv({});
    expect(env.PORT).toBe(8003);
    expect(env.HOST).toBe("0.0.0.0");
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.dataDir).toMatch(/\/\.data$/);
    expect(env.RATE_LIMIT_REQUESTS).toBe(100);
    expect(env.RATE_LIMIT_WINDOW).toBe(60);
    expect(env.JWT_ALGORITHM).toBe("HS256");
    expect(env.LOG_LEVEL).toBe("info");
    expect(env.LOG_FORMAT).toBe("json");
    expect(env.qdrantUrl).toBeUndefined();
  });

  it("treats empty values as unset, as an .env file copied from .env.example leaves them", () => {
    const env = parseEnv({ PORT: "", DATABASE_URL: "", OPENAI_API_KEY: " ", LOG_LEVEL: "" });
    expect(env.PORT).toBe(8003);
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.OPENAI_API_KEY).toBeUndefined();
    expect(env.LOG_LEVEL).toBe("info");
  });

  it("builds the Qdrant URL from QDRANT_HOST and QDRANT_PORT, as the original service configured it", () => {
    expect(parseEnv({ QDRANT_HOST: "qdrant", QDRANT_PORT: "6334" }).qdrantUrl).toBe("http://qdrant:6334");
    expect(parseEnv({ QDRANT_URL: "http://q:6333", QDRANT_HOST: "x" }).qdrantUrl).toBe("http://q:6333");
  });

  it("accepts the log level in any case, as the original .env wrote it (INFO)", () => {
    expect(parseEnv({ LOG_LEVEL: "INFO" }).LOG_LEVEL).toBe("info");
  });

  it.each([
    ["PORT", "eighty", "port number"],
    ["PORT", "70000", "port number"],
    ["DATABASE_URL", "mysql://root@localhost/db", "PostgreSQL URL"],
    ["REDIS_URL", "localhost:6379", "Redis URL"],
    ["RATE_LIMIT_REQUESTS", "-5", "whole number"],
    ["RATE_LIMIT_WINDOW", "1.5", "whole number"],
    ["JWT_ALGORITHM", "none", "HS256"],
    ["LOG_FORMAT", "xml", "json or pretty"],
    ["OPENAI_BASE_URL", "llm-proxy.internal", "URL"],
    ["BUDGET_ALERT_WEBHOOK_URL", "ftp://alerts.example.com/x", "http(s) URL"],
    ["BUDGET_ALERT_WEBHOOK_SECRET", "short", "at least 16 characters"],
  ])("refuses %s=%s with a message naming the variable and what it expects", (name, value, expected) => {
    let error: unknown;
    try {
      parseEnv({ [name]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EnvError);
    expect((error as EnvError).variable).toBe(name);
    expect((error as EnvError).message).toContain(`${name} must be`);
    expect((error as EnvError).message).toContain(expected);
    expect((error as EnvError).message).not.toContain(value);
  });

  it("needs the budget alert webhook's secret when its URL is set", () => {
    expect(() => parseEnv({ BUDGET_ALERT_WEBHOOK_URL: "https://alerts.example.com/hook" })).toThrow(
      "Invalid configuration: BUDGET_ALERT_WEBHOOK_SECRET must be set when BUDGET_ALERT_WEBHOOK_URL is",
    );
    const env = parseEnv({ BUDGET_ALERT_WEBHOOK_URL: "https://alerts.example.com/hook", BUDGET_ALERT_WEBHOOK_SECRET: "0123456789abcdef" });
    expect(env.BUDGET_ALERT_WEBHOOK_URL).toBe("https://alerts.example.com/hook");
  });

  it("reads WEBHOOK_ALLOW_PRIVATE as CIDR ranges, and refuses what is not one", () => {
    expect(parseEnv({}).WEBHOOK_ALLOW_PRIVATE).toEqual([]);
    expect(parseEnv({ WEBHOOK_ALLOW_PRIVATE: "10.0.0.0/8, fd00::/8 127.0.0.1" }).WEBHOOK_ALLOW_PRIVATE).toEqual([
      "10.0.0.0/8",
      "fd00::/8",
      "127.0.0.1/32",
    ]);
    for (const bad of ["10.0.0.0/33", "intranet", "10.0.0.0/8/1", "::1/129", "10.0.0.0/x"]) {
      expect(() => parseEnv({ WEBHOOK_ALLOW_PRIVATE: bad }), bad).toThrow(/WEBHOOK_ALLOW_PRIVATE must be CIDR ranges/);
    }
    expect(parseEnv({ EMBEDDING_CACHE_SCOPE: "Global" }).EMBEDDING_CACHE_SCOPE).toBe("global");
    expect(() => parseEnv({ EMBEDDING_CACHE_SCOPE: "tenant" })).toThrow(/EMBEDDING_CACHE_SCOPE must be owner or global/);
  });

  it("never repeats a secret in its error", () => {
    try {
      parseEnv({ DATABASE_URL: "mysql://admin:hunter2-very-secret@db/x" });
      expect.unreachable();
    } catch (e) {
      expect(String(e)).not.toContain("hunter2");
    }
  });
});

describe("start-up with a bad value", () => {
  it("stops the server with one line on stderr naming the variable", () => {
    const r = spawnSync(process.execPath, [...SERVER_NODE_ARGS, "--api-only"], {
      env: { ...process.env, PORT: "not-a-port", OPENAI_API_KEY: "sk-test-secret-value-123" },
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe("Invalid configuration: PORT must be a port number from 0 to 65535 (0: any free port)");
    expect(r.stdout + r.stderr).not.toContain("sk-test-secret-value-123");
  });
});
