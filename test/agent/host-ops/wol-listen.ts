// Run inside a network namespace by wol.test.ts: prints the first UDP datagram received on the
// port (hex) and the sender's address, then exits.
import { createSocket } from 'node:dgram';

const s = createSocket('udp4');
s.on('message', (msg, from) => {
  console.log(JSON.stringify({ hex: msg.toString('hex'), from: from.address }));
  s.close();
});
s.bind(Number(process.argv[2]), '0.0.0.0', () => console.log('ready'));
