import { describe, expect, it } from "vitest";
import { parseOptions, runOptions } from "../../src/cli/options.js";

describe("parseOptions", () => {
  it("splits kvmci's options from the command after --", () => {
    const parsed = parseOptions(
      ["--memory", "1G", "--env", "A=1", "--env", "B=2", "--", "npm", "test", "--", "-x"],
      runOptions,
    );
    expect(parsed.values.memory).toBe("1G");
    expect(parsed.values.env).toEqual(["A=1", "B=2"]);
    expect(parsed.rest).toEqual(["npm", "test", "--", "-x"]);
    expect(parsed.problems).toEqual([]);
  });

  it("collects every unknown or incomplete option", () => {
    const parsed = parseOptions(["--memroy", "1G", "--bogus", "--image"], runOptions);
    expect(parsed.problems).toEqual([
      "--memroy: unknown option (did you mean --memory?)",
      "--bogus: unknown option",
      "--image: expected a value (NAME)",
    ]);
  });

  it("takes the word after a mistyped option as its value when the option meant takes one", () => {
    const typo = parseOptions(["--imag", "x"], runOptions);
    expect(typo.problems).toEqual(["--imag: unknown option (did you mean --image?)"]);
    expect(typo.positionals).toEqual([]);
    // --fail-fast takes no value: the word after its typo is still a stray word.
    expect(parseOptions(["--fail-fst", "x"], runOptions).positionals).toEqual(["x"]);
    expect(parseOptions(["--bogus", "x"], runOptions).positionals).toEqual(["x"]);
  });
});
