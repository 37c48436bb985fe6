// A stand-in for the Kalray DPU's JSON-RPC server (SPDK methods behind HTTP Basic auth) for
// tests: it keeps bdevs, RAIDs, LVS and volumes, checks each method's parameters, and answers
// with the errors SPDK gives (negative errno codes, -32602 for bad parameters, -32601 for an
// unknown method). It can also stop answering (`hang`) to exercise timeouts.
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Lvs {
  uuid: string;
  name: string;
  base_bdev: string;
  cluster_size: number;
  total_data_clusters: number;
  free_clusters: number;
}

/** method -> [required, optional] parameter names (from the upstream test mock). */
const PARAMS: Record<string, [string[], string[]]> = {
  bdev_get_bdevs: [[], ['name', 'timeout']],
  bdev_raid_get_bdevs: [['category'], []],
  bdev_lvol_get_lvstores: [[], ['uuid', 'lvs_name']],
  bdev_raid_create: [
    ['name', 'strip_size_kb', 'raid_level', 'base_bdevs'],
    ['persist', 'split_dp'],
  ],
  bdev_lvol_create_lvstore: [
    ['bdev_name', 'lvs_name'],
    ['cluster_sz', 'clear_method', 'num_md_pages_per_cluster_ratio'],
  ],
  bdev_lvol_create: [
    ['lvol_name'],
    ['size', 'size_in_mib', 'thin_provision', 'uuid', 'lvs_name', 'clear_method'],
  ],
  bdev_lvol_delete: [['name'], []],
};

class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const ENODEV = () => new RpcError(-19, 'No such device');
const EEXIST = () => new RpcError(-17, 'File exists');

export class FakeDpu {
  readonly username = 'admin';
  readonly password = 's3cret-dpu-pass';
  hang = false;
  readonly calls: { method: string; params: Record<string, unknown> }[] = [];
  private server!: Server;
  port = 0;
  private readonly bdevs = new Map<string, { claimed: boolean; blocks: number }>([
    ['HotInNvmeWDS500AFY0-22050C800415n1', { claimed: false, blocks: 976773168 }],
    ['HotInNvmeWDS500AFY0-22050C800378n1', { claimed: false, blocks: 976773168 }],
  ]);
  private readonly raids: string[] = [];
  private readonly lvstores: Lvs[] = [];
  private readonly lvols = new Map<string, { uuid: string; size: number }>();
  private readonly hanging: ServerResponse[] = [];

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const r of this.hanging) r.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const expected = `Basic ${Buffer.from(`${this.username}:${this.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="DPU"' }).end('Unauthorized');
        return;
      }
      if (this.hang) {
        this.hanging.push(res);
        return;
      }
      let msg: { id?: unknown; method?: unknown; params?: unknown };
      try {
        msg = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return this.reply(res, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
      }
      try {
        const result = this.dispatch(String(msg.method), (msg.params ?? {}) as Record<string, unknown>);
        this.reply(res, { jsonrpc: '2.0', id: msg.id, result });
      } catch (e) {
        const err = e instanceof RpcError ? e : new RpcError(-32603, 'Internal error');
        this.reply(res, { jsonrpc: '2.0', id: msg.id, error: { code: err.code, message: err.message } });
      }
    });
  }

  private reply(res: ServerResponse, body: unknown) {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  private dispatch(method: string, params: Record<string, unknown>): unknown {
    const spec = PARAMS[method];
    if (!spec) throw new RpcError(-32601, 'Method not found');
    const [req, opt] = spec;
    const keys = Object.keys(params);
    if (req.some((k) => !keys.includes(k)) || keys.some((k) => !req.includes(k) && !opt.includes(k))) {
      throw new RpcError(-32602, 'Invalid parameters');
    }
    this.calls.push({ method, params });
    switch (method) {
      case 'bdev_get_bdevs':
        return [...this.bdevs].map(([name, b]) => ({
          name,
          aliases: [],
          product_name: 'NVMe disk',
          block_size: 512,
          num_blocks: b.blocks,
          claimed: b.claimed,
        }));
      case 'bdev_raid_get_bdevs':
        return [...this.raids];
      case 'bdev_lvol_get_lvstores':
        return this.lvstores.map((l) => ({ ...l, passive: false, block_size: 512 }));
      case 'bdev_raid_create': {
        const name = String(params.name);
        if (this.raids.includes(name) || this.bdevs.has(name)) throw EEXIST();
        const base = params.base_bdevs as string[];
        for (const b of base) {
          const bd = this.bdevs.get(b);
          if (!bd) throw ENODEV();
          if (bd.claimed) throw new RpcError(-1, 'Operation not permitted');
        }
        for (const b of base) this.bdevs.get(b)!.claimed = true;
        this.raids.push(name);
        this.bdevs.set(name, {
          claimed: false,
          blocks: 976773168 * (params.raid_level === 'raid1' ? 1 : base.length),
        });
        return true;
      }
      case 'bdev_lvol_create_lvstore': {
        const bd = this.bdevs.get(String(params.bdev_name));
        if (!bd) throw ENODEV();
        if (this.lvstores.some((l) => l.name === params.lvs_name)) throw EEXIST();
        if (bd.claimed) throw new RpcError(-1, 'Operation not permitted');
        bd.claimed = true;
        const clusters = Math.floor((bd.blocks * 512) / 33554432) - 1;
        const lvs: Lvs = {
          uuid: randomUUID(),
          name: String(params.lvs_name),
          base_bdev: String(params.bdev_name),
          cluster_size: 33554432,
          total_data_clusters: clusters,
          free_clusters: clusters,
        };
        this.lvstores.push(lvs);
        return lvs.uuid;
      }
      case 'bdev_lvol_create': {
        const lvs = this.lvstores.find((l) => l.name === params.lvs_name);
        if (!lvs) throw ENODEV();
        const full = `${lvs.name}/${params.lvol_name}`;
        if (this.lvols.has(full)) throw EEXIST();
        const clusters = Math.ceil(Number(params.size) / lvs.cluster_size);
        if (clusters > lvs.free_clusters) throw new RpcError(-28, 'No space left on device');
        lvs.free_clusters -= clusters;
        const uuid = randomUUID();
        this.lvols.set(full, { uuid, size: Number(params.size) });
        return uuid;
      }
      case 'bdev_lvol_delete': {
        const name = String(params.name);
        const lv = this.lvols.get(name);
        if (!lv) throw ENODEV();
        this.lvols.delete(name);
        const lvs = this.lvstores.find((l) => name.startsWith(`${l.name}/`));
        if (lvs) lvs.free_clusters += Math.ceil(lv.size / lvs.cluster_size);
        return true;
      }
    }
    throw new RpcError(-32601, 'Method not found');
  }
}
