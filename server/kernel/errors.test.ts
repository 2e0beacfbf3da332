import { describe, expect, it } from "vitest";
import { AppError } from "./errors.ts";
import { ProviderError } from "../providers/types.ts";

describe("error classes across module copies", () => {
  // Next's bundles hold a second copy of server/ in the same process; an error made by one copy
  // must still be recognised by the other (it carries a process-wide brand, not a class identity).
  it("recognises an AppError made by another copy of the class", async () => {
    const other = await import(/* @vite-ignore */ `./errors.ts?copy=${Date.now()}`);
    expect(other.AppError).not.toBe(AppError);
    const foreign = new other.AppError("not_found", "Model x is not in the catalogue");
    expect(foreign instanceof AppError).toBe(true);
    expect(new AppError("conflict", "x") instanceof other.AppError).toBe(true);
    expect(new Error("plain") instanceof AppError).toBe(false);
    expect((null as unknown) instanceof AppError).toBe(false);
  });

  it("recognises a ProviderError made by another copy of the class", async () => {
    const other = await import(/* @vite-ignore */ `../providers/types.ts?copy=${Date.now()}`);
    expect(other.ProviderError).not.toBe(ProviderError);
    const foreign = new other.ProviderError("rate limited", "rate_limited", 429, true, 1000);
    expect(foreign instanceof ProviderError).toBe(true);
    expect(foreign instanceof Error).toBe(true);
    expect(new AppError("timeout", "x") instanceof ProviderError).toBe(false);
  });
});
