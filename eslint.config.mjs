// ESLint: typescript-eslint's recommended rules, Next's (core web vitals, React hooks), and
// eslint-config-prettier last so that formatting is Prettier's alone (`npm run lint` runs both).
import { defineConfig, globalIgnores } from "eslint/config";
import nextVitals from "eslint-config-next/core-web-vitals";
import nextTypeScript from "eslint-config-next/typescript";
import prettier from "eslint-config-prettier/flat";

export default defineConfig([
  ...nextVitals,
  ...nextTypeScript,
  prettier,
  globalIgnores([
    ".next/**",
    ".tools/**",
    ".data/**",
    "node_modules/**",
    "server/db/generated/**",
    "test-results/**",
    "playwright-report/**",
    "next-env.d.ts",
  ]),
  {
    rules: {
      // `_name` marks a binding kept on purpose (a destructured secret dropped, an unused parameter).
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" },
      ],
    },
  },
  {
    // Tests read JSON answers whose shape they then assert, and harnesses named use* are not React hooks.
    files: ["**/*.test.ts", "tests/**", "e2e/**", "bench/**"],
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      "react-hooks/rules-of-hooks": "off",
      "react-hooks/immutability": "off",
    },
  },
]);
