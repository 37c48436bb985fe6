// Names the pool and creates its networks if they are missing (oVirtCmd's README sample that
// gets-or-creates a MAC pool, a datacenter and a cluster; in Berth the pool is both):
//   berth eval -v pool cl_name samples/berth/setup-pool.mjs
//   berth eval -e site.yaml samples/berth/setup-pool.mjs   # site.yaml: {pool: x, networks: [{name: storage, mtu: 9000}]}
const DEFAULT_NETWORKS = [{ name: 'storage', mtu: 9000 }];

export default async function ({ context, variables, NotFoundError, print }) {
  const [pool] = await context.pools.list();
  if (variables.pool && pool.name_label !== variables.pool) {
    await pool.set_name_label(variables.pool);
    print(`pool renamed ${pool.name_label}`);
  }
  for (const { name, mtu } of variables.networks ?? DEFAULT_NETWORKS) {
    let network;
    try {
      network = await context.networks.get(name);
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
      network = await context.networks.add({
        name_label: name,
        name_description: `created by setup-pool.mjs`,
        MTU: Number(mtu ?? 1500),
        other_config: {},
        tags: [],
      });
      print(`network ${name} created ${network.uuid}`);
      continue;
    }
    if (mtu && Number(network.MTU) !== Number(mtu)) {
      await network.set_MTU(Number(mtu));
      print(`network ${name} MTU ${network.MTU}`);
    }
  }
}
