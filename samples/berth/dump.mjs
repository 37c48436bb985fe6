// A dump of the pool and of every host's physical interfaces (oVirtCmd's README sample
// `for i in context.host.list(): i.export("nics")`):
//   berth eval samples/berth/dump.mjs
export default async function ({ context, print }) {
  for (const pool of await context.pools.list()) {
    print(`# pool ${pool.name}`);
    for (const doc of await pool.export()) print(doc);
  }
  for (const host of await context.hosts.list()) {
    print(`# host ${host.name}: ${host.PIFs.refs.length} PIFs`);
    for (const doc of await host.export('PIFs')) print(doc);
  }
}
