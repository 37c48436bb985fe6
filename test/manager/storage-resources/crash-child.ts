// A process feeding the resource store back-to-back sessionOpen calls, for a test to SIGKILL it:
// call k reports drives W(k) = D<k*STEP> … D<k*STEP+WINDOW-1> (so each call creates STEP drives and
// culls STEP), raises an alert on its first drive and lowers the previous one; prints
// `committed k` once call k resolved. argv: <db path>
import { ResourceStore } from '../../../src/manager/storage-resources/store.js';
import { CTRL_CLASSES, controllerReport } from './fixtures.js';

export const WINDOW = 2000;
export const STEP = 300;

export const windowOf = (k: number) => Array.from({ length: WINDOW }, (_, i) => `D${k * STEP + i}`);

if (process.argv[1]?.endsWith('crash-child.ts')) {
  const store = new ResourceStore({ path: process.argv[2] });
  for (let k = 0; ; k++) {
    await store.sessionOpen('crash', CTRL_CLASSES, controllerReport('c', windowOf(k)), 5);
    await store.sessionNotifyAlert('crash', 3, {
      alertClass: '_None_status_40',
      attribute: 'status',
      active: true,
      severity: 40,
    });
    process.stdout.write(`committed ${k}\n`);
  }
}
