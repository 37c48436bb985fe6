// updater: read-only queries against the real apt/dpkg of this machine, proxies against a
// private apt configuration (APT_CONFIG) and a copy of a yum repo file, and the RPM paths and
// update/install commands against a scripted runner (nothing is ever installed here).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  parseAptSimulation,
  parseCheckUpdate,
  splitDebianVersion,
  splitPackages,
} from '../../../src/agent/plugins/builtin/package-manager.js';
import { rewriteBaseurl } from '../../../src/agent/plugins/builtin/yum-proxies.js';
import { failure, fixture, host, scripted, tempDir } from './helpers.js';

const dpkgVersion = (p: string) => {
  try {
    return execFileSync('dpkg-query', ['-W', '-f', '$' + '{Version}', p], {
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
  } catch {
    return '';
  }
};

describe('updater on apt (real apt/dpkg, read-only)', () => {
  const h = host({ refreshPackageLists: false });

  it('query_installed maps installed packages to name_version_arch and others to ""', async () => {
    const out = JSON.parse(
      await h.call('updater.py', 'query_installed', { packages: 'bash,  lvm2 berth-no-such-package,bash' }),
    );
    assert.deepEqual(Object.keys(out), ['bash', 'lvm2', 'berth-no-such-package']);
    assert.equal(out.bash, `bash_${dpkgVersion('bash')}_amd64`);
    assert.equal(out.lvm2, `lvm2_${dpkgVersion('lvm2')}_amd64`);
    assert.equal(out['berth-no-such-package'], '');
    assert.equal(await h.call('updater', 'query_installed', {}), '{}');
  });

  it('query_installed refuses globs and options as package names', async () => {
    for (const bad of ['ba*', '-a', 'x;y']) {
      const d = await failure(h.call('updater', 'query_installed', { packages: bad }));
      assert.deepEqual(d.slice(1, 3), ['-1', `Invalid package name '${bad}'`]);
    }
  });

  it('check_update lists upgradable packages with their candidate versions', async () => {
    const out = JSON.parse(await h.call('updater', 'check_update', {}));
    assert.ok(Array.isArray(out.result));
    for (const p of out.result.slice(0, 5)) {
      for (const k of [
        'name',
        'version',
        'release',
        'arch',
        'fullName',
        'description',
        'url',
        'size',
        'license',
      ]) {
        assert.equal(typeof p[k], 'string', k);
      }
      assert.equal(p.changelog, null);
      // Independent check: the candidate apt-cache policy reports is what we list.
      const policy = execFileSync('apt-cache', ['policy', p.name]).toString();
      const candidate = /Candidate: (\S+)/.exec(policy)?.[1] ?? '';
      assert.equal(p.fullName, `${p.name}_${candidate}_${p.arch}`);
      assert.notEqual(dpkgVersion(p.name), candidate);
    }
  });
});

describe('updater parsing', () => {
  it('splits Debian versions', () => {
    assert.deepEqual(splitDebianVersion('1:2.36-9+deb12u4'), {
      epoch: '1',
      upstream: '2.36',
      revision: '9+deb12u4',
    });
    assert.deepEqual(splitDebianVersion('1.2.3'), { epoch: '', upstream: '1.2.3', revision: '' });
  });

  it('reads apt simulations, including new packages', () => {
    const out = parseAptSimulation(
      'Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\n' +
        'Inst libnew1 (1.0-1 Debian:12.15/oldstable [amd64])\n' +
        'Inst libgcrypt20-dev [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64]) []\n' +
        'Conf bash (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\n',
    );
    assert.deepEqual(out, [
      { name: 'bash', version: '5.2.15-2+b13', arch: 'amd64' },
      { name: 'libnew1', version: '1.0-1', arch: 'amd64' },
      { name: 'libgcrypt20-dev', version: '1.10.1-3+deb12u1', arch: 'amd64' },
    ]);
  });

  it('reads dnf/yum check-update like the seed, wrapped names included, obsoletes excluded', () => {
    const out = parseCheckUpdate(fixture('dnf-check-update.txt'));
    assert.deepEqual(
      out.map((p) => p.fullName),
      [
        '2:microcode_ctl-2.1-22.xs1.x86_64',
        'xen-dom0-libs-4.7.5-4.2.x86_64',
        'xen-dom0-tools-4.7.5-4.2.x86_64',
        'xen-hypervisor-4.7.5-4.2.x86_64',
        'xen-libs-4.7.5-4.2.x86_64',
        'a-very-long-package-name-that-wraps-the-column-1.0-3.xcpng8.2.noarch',
        'xen-tools-4.7.5-4.2.x86_64',
      ],
    );
    assert.deepEqual(
      { ...out[0], description: undefined },
      {
        name: 'microcode_ctl',
        version: '2.1',
        release: '22.xs1',
        arch: 'x86_64',
        fullName: '2:microcode_ctl-2.1-22.xs1.x86_64',
        description: undefined,
        changelog: null,
        url: '',
        size: '',
        license: '',
      },
    );
  });

  it('normalises package lists', () => {
    assert.deepEqual(splitPackages(' sm,sm-rawhba  invalid,sm '), ['sm', 'sm-rawhba', 'invalid']);
  });
});

describe('updater on dnf (scripted)', () => {
  const repolist = fixture('yum-repolist.txt');
  const make = (extra: (argv: string[]) => object | undefined = () => undefined) =>
    scripted((argv) => {
      const e = extra(argv);
      if (e) return e;
      if (argv[2] === 'repolist') return { stdout: repolist };
      if (argv[1] === '-q' && argv[2] === 'check-update')
        return { code: 100, stdout: fixture('dnf-check-update.txt') };
      if (argv[0] === 'rpm')
        return { code: 1, stdout: 'toto.rpm\npackage tata is not installed\ntiti.rpm\n' };
      return { stdout: 'Complete!\n' };
    });
  const opts = {
    packageManager: 'dnf' as const,
    yumDefaultRepos: ['xcp-ng-base', 'xcp-ng-updates', 'xcp-ng-linstor'],
  };

  it('update runs dnf on the enabled default repositories plus the requested ones', async () => {
    const { run, calls } = make();
    const h = host({ run, ...opts });
    const out = JSON.parse(await h.call('updater', 'update', {}));
    assert.deepEqual(out, {
      stdout: 'Complete!\n',
      stderr: '',
      command: [
        'dnf',
        'update',
        '--disablerepo=*',
        '--enablerepo=xcp-ng-base,xcp-ng-linstor,xcp-ng-updates',
        '-y',
      ],
      returncode: 0,
    });
    await h.call('updater', 'update', { packages: 'toto tata', repos: 'totoro, lalala, ignored_repo' });
    assert.deepEqual(calls.at(-1), [
      'dnf',
      'update',
      '--disablerepo=*',
      '--enablerepo=xcp-ng-base,xcp-ng-linstor,xcp-ng-updates,totoro,lalala',
      '-y',
      'toto',
      'tata',
    ]);
  });

  it('install needs packages', async () => {
    const h = host({ run: make().run, ...opts });
    assert.deepEqual((await failure(h.call('updater', 'install', {}))).slice(1, 3), [
      '-1',
      'Missing or empty argument `packages`',
    ]);
  });

  it('check_update returns the seed shape', async () => {
    const out = JSON.parse(await host({ run: make().run, ...opts }).call('updater', 'check_update', {}));
    assert.equal(out.result.length, 7);
    assert.equal(out.result[1].name, 'xen-dom0-libs');
  });

  it('check_update reports a dnf failure', async () => {
    const { run } = make((argv) =>
      argv[2] === 'check-update' ? { code: 1, stderr: 'Error: no repos' } : undefined,
    );
    const d = await failure(host({ run, ...opts }).call('updater', 'check_update', {}));
    assert.equal(d[1], '1');
  });

  it('query_installed maps rpm -q lines', async () => {
    const out = await host({ run: make().run, ...opts }).call('updater', 'query_installed', {
      packages: 'toto,tata,titi',
    });
    assert.deepEqual(JSON.parse(out), { toto: 'toto.rpm', tata: '', titi: 'titi.rpm' });
  });

  it('an update waits for check_update, but not for another update', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { run } = make();
    const slow = scripted(async (argv) => {
      if (argv[2] === 'check-update') await gate;
      return run(argv[0], argv.slice(1));
    }).run;
    const h = host({ run: slow, ...opts, updaterLockWaitMs: 2000 });
    const check = h.call('updater', 'check_update', {});
    await new Promise((r) => setTimeout(r, 20));
    assert.match(
      (await failure(h.call('updater', 'get_proxies', {})))[2],
      /busy \(current operation: check_update\)/,
    );
    const upd = h.call('updater', 'update', {});
    setTimeout(release, 100);
    await check;
    assert.equal(JSON.parse(await upd).returncode, 0);

    let releaseUpdate!: () => void;
    const gate2 = new Promise<void>((r) => (releaseUpdate = r));
    const h2 = host({
      run: scripted(async (argv) => {
        if (argv[1] === 'update') await gate2;
        return argv[2] === 'repolist' ? { stdout: repolist } : {};
      }).run,
      ...opts,
    });
    const first = h2.call('updater', 'update', {});
    await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    assert.equal((await failure(h2.call('updater', 'update', {})))[2], 'Update already in progress');
    assert.ok(Date.now() - t0 < 1000);
    releaseUpdate();
    await first;
  });
});

describe('proxies', () => {
  describe('yum repo file', () => {
    const dir = tempDir('yum');
    const file = join(dir.path, 'xcp-ng.repo');
    const h = host({ packageManager: 'yum', yumRepoFile: file });
    before(() => copyFileSync(new URL('fixtures/xcp-ng.repo', import.meta.url), file));
    after(() => dir.cleanup());

    it('get_proxies lists every section, _none_ where no proxy is set', async () => {
      assert.deepEqual(JSON.parse(await h.call('updater', 'get_proxies', {})), {
        'xcp-ng-base': 'http://192.168.100.82:3142',
        'xcp-ng-updates': '_none_',
        'xcp-ng-extras': '_none_',
        'xcp-ng-mirrorlist': '_none_',
      });
    });

    it('set_proxies switches baseurls between https:// and http://HTTPS///', async () => {
      const before = readFileSync(file, 'utf8');
      assert.equal(
        await h.call('updater', 'set_proxies', {
          proxies: JSON.stringify({
            'xcp-ng-base': '_none_',
            'xcp-ng-extras': 'http://proxy.example.com:3128',
          }),
        }),
        '',
      );
      const text = readFileSync(file, 'utf8');
      assert.match(text, /baseurl=https:\/\/updates\.xcp-ng\.org\/8\/8\.2\/base\/x86_64\/\n/);
      assert.match(text, /baseurl=http:\/\/HTTPS\/\/\/updates\.xcp-ng\.org\/8\/8\.2\/extras\/x86_64\//);
      assert.equal(text.split('\n').length, before.split('\n').length + 1);
      assert.deepEqual(
        JSON.parse(await h.call('updater', 'get_proxies', {}))['xcp-ng-extras'],
        'http://proxy.example.com:3128',
      );
      // Same values again: nothing to do, file untouched.
      await h.call('updater', 'set_proxies', { proxies: JSON.stringify({ 'xcp-ng-base': '_none_' }) });
      assert.equal(readFileSync(file, 'utf8'), text);
    });

    it('refuses unknown sections, odd URLs and bad values without writing', async () => {
      const text = readFileSync(file, 'utf8');
      const cases: [object | string, string][] = [
        [{ nope: '_none_' }, "Can't find section 'nope' in config file"],
        [
          { 'xcp-ng-mirrorlist': 'http://p:3128' },
          'Unexpected URL "http://mirrors.example.net/xcp-ng/" for proxy "http://p:3128" in section "xcp-ng-mirrorlist"',
        ],
        [
          { 'xcp-ng-base': 'http://p:1\nevil=1' },
          'Invalid proxy "http://p:1\\nevil=1" for section \'xcp-ng-base\'',
        ],
        ['[1]', 'Argument `proxies` must be a JSON object {section: proxy}'],
        ['{bad', "Argument 'proxies' is not valid JSON"],
      ];
      for (const [proxies, message] of cases) {
        const arg = typeof proxies === 'string' ? proxies : JSON.stringify(proxies);
        assert.deepEqual((await failure(h.call('updater', 'set_proxies', { proxies: arg }))).slice(1, 3), [
          '-1',
          message,
        ]);
      }
      assert.equal(readFileSync(file, 'utf8'), text);
      assert.equal(rewriteBaseurl('s', 'http://HTTPS///h/p', 'http://x:1'), 'http://HTTPS///h/p');
    });

    it('an unreadable file gives {} for get and an error for set', async () => {
      const g = host({ packageManager: 'yum', yumRepoFile: join(dir.path, 'missing.repo') });
      assert.equal(await g.call('updater', 'get_proxies', {}), '{}');
      assert.equal(
        (await failure(g.call('updater', 'set_proxies', { proxies: '{}' })))[2],
        `could not read file ${join(dir.path, 'missing.repo')}`,
      );
    });
  });

  describe('apt (real apt-config on a private configuration)', () => {
    const dir = tempDir('apt');
    const parts = join(dir.path, 'apt.conf.d');
    const proxyFile = join(parts, '80berth-proxy');
    const h = host({ aptEnv: { APT_CONFIG: join(dir.path, 'apt.conf') } });
    before(() => {
      mkdirSync(parts);
      mkdirSync(join(dir.path, 'sources.list.d'));
      writeFileSync(
        join(dir.path, 'apt.conf'),
        [
          `Dir::Etc::Parts "${parts}";`,
          `Dir::Etc::SourceList "${join(dir.path, 'sources.list')}";`,
          `Dir::Etc::SourceParts "${join(dir.path, 'sources.list.d')}";`,
          'Acquire::http::Proxy "http://global.example.com:3128";',
          '',
        ].join('\n'),
      );
      writeFileSync(
        join(dir.path, 'sources.list'),
        '# comment\ndeb http://mirror.example.org/debian bookworm main\ndeb-src http://mirror.example.org/debian bookworm main\n',
      );
      writeFileSync(
        join(dir.path, 'sources.list.d', 'extra.sources'),
        'Types: deb\nURIs: https://pkgs.example.com/repo\nSuites: stable\nComponents: main\n\nTypes: deb\nURIs: http://off.example.net/\nSuites: x\nEnabled: no\n',
      );
    });
    after(() => dir.cleanup());

    it('get_proxies reports each source host with its effective proxy', async () => {
      assert.deepEqual(JSON.parse(await h.call('updater', 'get_proxies', {})), {
        'mirror.example.org': 'http://global.example.com:3128',
        'pkgs.example.com': '_none_',
      });
    });

    it('set_proxies writes per-host entries apt itself then reads', async () => {
      assert.equal(
        await h.call('updater', 'set_proxies', {
          proxies: JSON.stringify({
            'mirror.example.org': '_none_',
            'pkgs.example.com': 'http://cache.example.com:3142',
          }),
        }),
        '',
      );
      assert.ok(existsSync(proxyFile));
      assert.deepEqual(JSON.parse(await h.call('updater', 'get_proxies', {})), {
        'mirror.example.org': '_none_',
        'pkgs.example.com': 'http://cache.example.com:3142',
      });
      // apt's own view of the file Berth wrote.
      const dump = execFileSync('apt-config', ['dump'], {
        env: { ...process.env, APT_CONFIG: join(dir.path, 'apt.conf') },
      })
        .toString()
        .split('\n');
      assert.ok(dump.includes('Acquire::http::Proxy::mirror.example.org "DIRECT";'));
      assert.ok(dump.includes('Acquire::https::Proxy::pkgs.example.com "http://cache.example.com:3142";'));
    });

    it('refuses unknown hosts', async () => {
      const before = readFileSync(proxyFile, 'utf8');
      const d = await failure(
        h.call('updater', 'set_proxies', { proxies: JSON.stringify({ 'x.example': '_none_' }) }),
      );
      assert.equal(d[2], "Can't find section 'x.example' in config file");
      assert.equal(readFileSync(proxyFile, 'utf8'), before);
    });
  });
});
