// Mutation testing of Berth's pure core (issue 12 item 8), one module at a time so that each run
// mutates a small set of files and runs only the focused tests that cover them:
//   STRYKER_MODULE=lifecycle npx stryker run      (tools/mutation.sh runs them all)
// Stryker has no node:test runner plugin, so the command runner runs `node --test` on the module's
// focused test list for every mutant (coverage analysis off: it cannot see per-test coverage
// through a command). Mutants are switched on at run time (mutation switching), so the sandbox is
// transpiled to JavaScript once (tools/mutation-build.mjs) and each run starts plain node, not
// tsx. See docs/testing.md for the scores.

/** mutate globs and focused test files per module of the pure core. */
export const MODULES = {
  wire: {
    mutate: ['src/shared/wire/**/*.ts', '!src/shared/wire/index.ts'],
    tests: [
      // fuzz.test.ts is left out: it runs for seconds and finds crashes, not wrong output
      'test/shared/wire/decode.test.ts',
      'test/shared/wire/json-rpc.test.ts',
      'test/shared/wire/xml-encode.test.ts',
      'test/shared/wire/xml-parse.test.ts',
      'test/shared/wire/escaping.test.ts',
      'test/shared/wire/missing-values.test.ts',
    ],
  },
  // The two encoders alone, with the tests that read their output back (a quicker subset of wire).
  'wire-encode': {
    mutate: ['src/shared/wire/xml-encode.ts', 'src/shared/wire/json-rpc.ts'],
    tests: [
      'test/shared/wire/xml-encode.test.ts',
      'test/shared/wire/json-rpc.test.ts',
      'test/shared/wire/escaping.test.ts',
      'test/shared/wire/missing-values.test.ts',
    ],
  },
  // The parsers and decoder alone (the wire module minus the two encoders), with their tests.
  'wire-parse': {
    mutate: [
      'src/shared/wire/decode.ts',
      'src/shared/wire/xml-parse.ts',
      'src/shared/wire/xml-value.ts',
      'src/shared/wire/utf8.ts',
      'src/shared/wire/json-depth.ts',
      'src/shared/wire/format-float.ts',
    ],
    tests: [
      'test/shared/wire/decode.test.ts',
      'test/shared/wire/xml-parse.test.ts',
      'test/shared/wire/json-rpc.test.ts',
      'test/shared/wire/xml-encode.test.ts',
    ],
  },
  rbac: {
    mutate: ['src/manager/auth/rbac.ts', 'src/manager/auth/roles.ts'],
    tests: ['test/manager/rbac/role-rules.test.ts'],
  },
  lifecycle: {
    mutate: ['src/manager/vm/lifecycle.ts'],
    tests: ['test/manager/vm/lifecycle.test.ts', 'test/manager/vm/allowed-operations.test.ts'],
  },
  sessions: {
    mutate: ['src/manager/auth/sessions.ts'],
    // session-rights.test.ts spawns the admin CLI from source (tsx), which the transpiled sandbox
    // lacks; login-throttle.test.ts covers login-throttle.ts and runs a real manager for 11 s
    tests: ['test/manager/auth/sessions.test.ts'],
  },
  generator: {
    mutate: ['tools/generate-datamodel.ts'],
    tests: ['test/tools/generate-datamodel*.test.ts'],
  },
  'cli-args': {
    mutate: ['src/manager/cli/args.ts'],
    tests: ['test/manager/cli/args*.test.ts'],
  },
};

const name = process.env.STRYKER_MODULE ?? 'lifecycle';
const mod = MODULES[name];
if (!mod) throw new Error(`STRYKER_MODULE must be one of: ${Object.keys(MODULES).join(', ')}`);

export default {
  testRunner: 'command',
  commandRunner: {
    // A shell glob here is expanded inside Stryker's sandbox copy; no user input reaches it.
    command: `node --test --test-concurrency=1 ${mod.tests.map((f) => `.mutation-build/${f.replace(/\.ts$/, '.js')}`).join(' ')}`,
  },
  buildCommand: 'node tools/mutation-build.mjs',
  coverageAnalysis: 'off',
  mutate: mod.mutate,
  // Keep the sandbox copy small: only what the pure core and its tests need.
  ignorePatterns: ['/*', '!/src', '!/test', '!/tools', '!/package.json', '!/tsconfig.json'],
  concurrency: Number(process.env.STRYKER_CONCURRENCY ?? 2),
  timeoutMS: 30_000,
  timeoutFactor: 2,
  reporters: ['clear-text', 'json', 'progress'],
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  tempDirName: `.stryker-tmp/${name}`,
  cleanTempDir: true,
  thresholds: { high: 90, low: 80, break: null },
};
