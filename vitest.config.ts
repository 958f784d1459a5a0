import { defineConfig } from "vitest/config";

// Two projects: `unit` is pure and fast (the inner loop, `npm run check`);
// `integration` boots real guests under whatever accel the host has and is slow.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/integration/**"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          testTimeout: 15 * 60_000,
          hookTimeout: 15 * 60_000,
          // Guests share two cores; running files in parallel only makes each boot slower.
          fileParallelism: false,
        },
      },
    ],
  },
});
