// berth-admin: local administration that needs no running manager — user accounts and their
// roles and passwords. Works directly on the data directory's database (run as root); a running
// manager re-reads a session's account on each of its calls, so changes apply at once.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MODEL } from '../../shared/datamodel/generated/model.js';
import { isXenApiError } from '../../shared/errors.js';
import { generatePassword } from '../auth/passwords.js';
import { isRoleName, ROLE_NAMES } from '../auth/roles.js';
import { UserStore } from '../auth/users.js';
import { SqliteBackend } from '../db/sqlite-backend.js';

const USAGE = `Usage: berth-admin [--data-dir DIR] COMMAND
  user-add NAME --role ROLE [--password-file FILE]   add a user (random password printed if no file)
  user-passwd NAME [--password-file FILE]            set a user's password (random if no file)
  user-role NAME ROLE                                change a user's role
  user-remove NAME                                   remove a user
  user-list                                          list users and roles
Roles: ${ROLE_NAMES.join(', ')}
A running manager applies changes to open sessions at once: a removed user's sessions end on\ntheir next call, a new role applies to their next call.
`;

function readPassword(file: string | undefined): { password: string; generated: boolean } {
  if (!file) return { password: generatePassword(), generated: true };
  const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  const password = text.replace(/\r?\n$/, '');
  if (!password) throw new Error('empty password');
  return { password, generated: false };
}

export async function runAdmin(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out: (s: string) => void,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string' },
      role: { type: 'string' },
      'password-file': { type: 'string' },
      help: { type: 'boolean' },
    },
    allowPositionals: true,
  });
  const [cmd, ...rest] = positionals;
  if (values.help || !cmd) {
    out(USAGE);
    return cmd ? 0 : 2;
  }
  const dataDir = values['data-dir'] ?? env.BERTH_DATA_DIR ?? '/var/lib/berth';
  const backend = new SqliteBackend(join(dataDir, 'berth.db'), MODEL);
  const users = new UserStore(backend);
  try {
    switch (cmd) {
      case 'user-add': {
        const [name] = rest;
        const role = values.role ?? '';
        if (!name || !isRoleName(role))
          throw new Error(`user-add needs NAME and --role (${ROLE_NAMES.join(', ')})`);
        const { password, generated } = readPassword(values['password-file']);
        await users.add(name, role, password);
        out(generated ? `${password}\n` : '');
        return 0;
      }
      case 'user-passwd': {
        const [name] = rest;
        if (!name) throw new Error('user-passwd needs NAME');
        const { password, generated } = readPassword(values['password-file']);
        await users.setPassword(name, password);
        out(generated ? `${password}\n` : '');
        return 0;
      }
      case 'user-role': {
        const [name, role] = rest;
        if (!name || !role || !isRoleName(role))
          throw new Error(`user-role needs NAME and ROLE (${ROLE_NAMES.join(', ')})`);
        users.setRole(name, role);
        return 0;
      }
      case 'user-remove': {
        const [name] = rest;
        if (!name || name === 'root') throw new Error('user-remove needs NAME (root cannot be removed)');
        if (!users.remove(name)) throw new Error(`no such user ${name}`);
        return 0;
      }
      case 'user-list':
        for (const u of users.list()) out(`${u.name}\t${u.role}\n`);
        return 0;
      default:
        throw new Error(`unknown command ${cmd}\n${USAGE}`);
    }
  } catch (e) {
    const msg = isXenApiError(e) ? e.description.join(' ') : e instanceof Error ? e.message : String(e);
    process.stderr.write(`berth-admin: ${msg}\n`);
    return 1;
  } finally {
    backend.close();
  }
}

if (process.argv[1]?.endsWith('admin/main.js') || process.argv[1]?.endsWith('admin/main.ts')) {
  runAdmin(process.argv.slice(2), process.env, (s) => process.stdout.write(s)).then((code) =>
    process.exit(code),
  );
}
