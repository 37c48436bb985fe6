// Run inside a network namespace by wol.test.ts: sends one magic packet through wake_on_lan with
// the interface given, prints where it went as JSON.
import { hostOpsConfig } from '../../../src/agent/host-ops/options.js';
import { wakeOnLan } from '../../../src/agent/host-ops/wol.js';

const [iface, mac, port] = process.argv.slice(2);
const cfg = hostOpsConfig(
  { wolInterface: iface },
  { stateRoot: '/nonexistent', runRoot: '/nonexistent', srRoot: '/nonexistent' },
  () => [],
);
wakeOnLan(cfg, mac, null, Number(port)).then(
  (r) => console.log(JSON.stringify(r)),
  (e) => {
    console.error(String(e));
    process.exit(1);
  },
);
