// Runs once before the test files: nothing to prepare yet beyond a clean temporary root.
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export default function setup(): void {
  mkdirSync(path.join(tmpdir(), "model-service-tests"), { recursive: true });
}
