#!/usr/bin/env node
// berth-storage-plugin: tools for storage plugin authors (issue 17).
//   berth-storage-plugin validate <file|dir>   IML's `manage.py validate_storage_plugin`
import { validatePlugin } from '../../shared/storage-resources/loader.js';

const USAGE = 'usage: berth-storage-plugin validate <plugin file | package directory>';

/** Prints IML's validation report; returns the exit code (0 OK, 1 errors, 2 usage). */
export async function main(argv: string[], out: (line: string) => void): Promise<number> {
  if (argv[0] !== 'validate' || argv.length !== 2) {
    out(USAGE);
    return 2;
  }
  await registerTypeScript();
  const { name, errors } = await validatePlugin(argv[1]);
  out(`Validating plugin '${name}'...`);
  if (errors.length === 0) {
    out('OK');
    return 0;
  }
  out('Validation errors:');
  for (const e of errors) out(`  ${e}`);
  return 1;
}

/** TypeScript plugins load through tsx when it is installed (a development checkout). */
async function registerTypeScript(): Promise<void> {
  if (process.execArgv.some((a) => a.includes('tsx'))) return;
  try {
    const api = (await import('tsx/esm/api' as string)) as { register(): unknown };
    api.register();
  } catch {
    // Not installed: .ts plugins are reported as needing compilation.
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/berth-storage-plugin')) {
  main(process.argv.slice(2), (l) => process.stdout.write(`${l}\n`)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`berth-storage-plugin: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
