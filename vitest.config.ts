import { defineConfig } from "vitest/config";

// Two projects: `unit` is pure and fast (the inner loop, `npm run check`);
// `integration` boots real guests under whatever accel the host has and is slow; its files
// run one at a time, the fault-injection suite in test/faults among them.
export default defineConfig({
  test: {
    // A fresh machine: the host tools the tests need are installed first (test/host-tools.setup.ts).
    globalSetup: ["test/host-tools.setup.ts"],
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/integration/**", "test/faults/**", "test/docs/run-snippets.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          // test/faults: fault injection (issue 7), also alone with `npm run test:faults`.
          // test/docs/run-snippets: the docs' commands marked <!-- run -->, run for real.
          include: [
            "test/integration/**/*.test.ts",
            "test/faults/**/*.test.ts",
            "test/docs/run-snippets.test.ts",
          ],
          testTimeout: 15 * 60_000,
          hookTimeout: 15 * 60_000,
          // Guests share two cores; running files in parallel only makes each boot slower.
          fileParallelism: false,
        },
      },
    ],
  },
});
