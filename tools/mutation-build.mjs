// Build step for mutation testing (run by Stryker once per sandbox): transpiles src/, test/ and
// tools/ to plain JavaScript in .mutation-build/ with TypeScript's transpileModule (no type check:
// Stryker's instrumented code is not meant to type-check), and copies other files (JSON, goldens).
// Each mutant's test run then starts plain `node --test` instead of tsx/esbuild, which is what
// makes a run per mutant affordable on a small machine.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ts from 'typescript';

const OUT = '.mutation-build';
const options = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  sourceMap: false,
  esModuleInterop: true,
};

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else {
      const out = join(OUT, p.endsWith('.ts') && !p.endsWith('.d.ts') ? p.replace(/\.ts$/, '.js') : p);
      mkdirSync(dirname(out), { recursive: true });
      if (p.endsWith('.ts') && !p.endsWith('.d.ts')) {
        const { outputText } = ts.transpileModule(readFileSync(p, 'utf8'), { compilerOptions: options, fileName: p });
        writeFileSync(out, outputText);
      } else copyFileSync(p, out);
    }
  }
}

for (const d of ['src', 'test', 'tools']) walk(d);
writeFileSync(join(OUT, 'package.json'), JSON.stringify({ type: 'module' }));
