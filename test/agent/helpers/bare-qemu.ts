// A bare QEMU for QMP-level disk tests: -machine none, paused, no guest, only qcow2 drives
// (if=none, so each has a BlockBackend named by its id) and a QMP socket.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import type { TestContext } from 'node:test';
import { QmpClient } from '../../../src/agent/qemu/qmp.js';

/**
 * Registers the hook that kills the QEMU (call it BEFORE tempDir(t): the process must go before
 * its directory) and returns `start`, which spawns it with `drives` and QMP on `sock`, waits for
 * QMP and returns a command function and a promise of QEMU's exit.
 */
export function bareQemu(t: TestContext) {
  let qemu: ChildProcess | undefined;
  t.after(() => qemu?.kill('SIGKILL'));
  return async (sock: string, drives: { id: string; path: string }[]) => {
    const p = spawn(
      'qemu-system-x86_64',
      [
        ...['-machine', 'none', '-nodefaults', '-display', 'none', '-S'],
        ...['-qmp', `unix:${sock},server=on,wait=off`],
        ...drives.flatMap((d) => [
          '-drive',
          `if=none,id=${d.id},file=${d.path},format=qcow2,auto-read-only=off`,
        ]),
      ],
      { stdio: 'ignore' },
    );
    qemu = p;
    const exited = new Promise((r) => p.once('exit', r));
    let qmp: QmpClient | undefined;
    for (let i = 0; i < 100 && !qmp; i++)
      qmp = await QmpClient.connect(sock, 2000).catch(async () => {
        await new Promise((r) => setTimeout(r, 50));
        return undefined;
      });
    assert.ok(qmp, 'QMP up');
    const client = qmp;
    const cmd = (c: string, a?: Record<string, unknown>) => client.command(c, a);
    return { cmd, exited };
  };
}
