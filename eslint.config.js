import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["build/", "dist/", "node_modules/", "fixtures/", "bin/", "bench/*.sh"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
    },
  },
  {
    files: ["eslint.config.js", ".dependency-cruiser.mjs", "bench/**/*.mjs", ".ci/**/*.mjs"],
    ...tseslint.configs.disableTypeChecked,
  },
  { files: ["bench/**/*.mjs", ".ci/**/*.mjs"], languageOptions: { globals: globals.node } },
);
