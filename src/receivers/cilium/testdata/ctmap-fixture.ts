// Test fixture: a throw-away bpffs with Cilium-shaped CT maps, built with bpftool (an
// independent writer) from byte layouts written here straight from the reference
// (../../../../../shared/reference/cilium-ct-maps.md), not from the Rust decoder.
//
//   const fx = await CtFixture.create();           // mounts a bpffs in a temp dir (root)
//   t.teardown(() => fx.destroy());                 // unmounts and removes it
//   await fx.createMap('cilium_ct4_global');        // LRU hash, key 14/38, value 56, at tc/globals/
//   await fx.write('cilium_ct4_global', [entry]);   // byte-exact keys and values
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { systemTool } from '../../../../test/harness/system-tools.ts';

const run = promisify(execFile);

export const TUPLE_F_OUT = 0;
export const TUPLE_F_IN = 1;
export const TUPLE_F_RELATED = 2;
export const TUPLE_F_SERVICE = 4;

function addrBytes(addr: string): number[] {
  if (addr.includes(':')) {
    const [head, tail] = addr.split('::') as [string, string | undefined];
    const h = head ? head.split(':') : [];
    const tl = tail ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - tl.length).fill('0'), ...tl];
    return groups.flatMap((g) => {
      const n = parseInt(g, 16);
      return [n >> 8, n & 0xff];
    });
  }
  return addr.split('.').map(Number);
}

const be16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];

/**
 * A CT key (`struct ipv4_ct_tuple` / `ipv6_ct_tuple`) exactly as stored: daddr, saddr, dport,
 * sport (big-endian), nexthdr, flags. Callers pass the stored fields, quirks included.
 */
export function ctKey(k: { daddr: string; saddr: string; dport: number; sport: number; nexthdr: number; flags: number }): Buffer {
  return Buffer.from([...addrBytes(k.daddr), ...addrBytes(k.saddr), ...be16(k.dport), ...be16(k.sport), k.nexthdr, k.flags]);
}

/** The key of a connection the initiator opened (non-service entries use the reply layout). */
export function flowKey(src: string, sport: number, dst: string, dport: number, nexthdr: number, flags: number): Buffer {
  return ctKey({ daddr: src, saddr: dst, dport, sport, nexthdr, flags });
}

/** A SERVICE key (forward layout): client saddr:dport → VIP daddr:sport. */
export function serviceKey(client: string, clientPort: number, vip: string, vipPort: number, nexthdr: number): Buffer {
  return ctKey({ daddr: vip, saddr: client, dport: clientPort, sport: vipPort, nexthdr, flags: TUPLE_F_SERVICE });
}

export interface ValueFields {
  lifetime?: number;
  flags?: number;
  revNat?: number;
  txFlagsSeen?: number;
  rxFlagsSeen?: number;
  srcSecId?: number;
}

function ctValue(words: [bigint, bigint, bigint, bigint], f: ValueFields): Buffer {
  const v = Buffer.alloc(56);
  words.forEach((w, i) => v.writeBigUInt64LE(w, i * 8));
  v.writeUInt32LE(f.lifetime ?? 0xffff_fff0, 32);
  v.writeUInt16LE(f.flags ?? 0, 36);
  v.writeUInt16BE(f.revNat ?? 0, 38);
  v[42] = f.txFlagsSeen ?? 0;
  v[43] = f.rxFlagsSeen ?? 0;
  v.writeUInt32LE(f.srcSecId ?? 0, 44);
  return v;
}

/** `struct ct_entry` ≤ v1.15: rx_packets, rx_bytes | backend_id, tx_packets, tx_bytes, ... */
export function valueV115(rx: [number, number], tx: [number, number], f: ValueFields = {}): Buffer {
  return ctValue([BigInt(rx[0]), BigInt(rx[1]), BigInt(tx[0]), BigInt(tx[1])], f);
}

/** `struct ct_entry` v1.16–v1.18: reserved0, backend_id, packets, bytes, ... */
export function valueV116(packets: number, bytes: number, f: ValueFields & { backendId?: number } = {}): Buffer {
  return ctValue([0n, BigInt(f.backendId ?? 0), BigInt(packets), BigInt(bytes)], f);
}

export interface CtEntry {
  key: Buffer;
  value: Buffer;
}

const hex = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

export class CtFixture {
  readonly root: string;
  #mounted = false;

  private constructor(root: string) {
    this.root = root;
  }

  static async create(): Promise<CtFixture> {
    const fx = new CtFixture(mkdtempSync(join(tmpdir(), 'podflow-bpffs-')));
    await run(systemTool('mount'), ['-t', 'bpf', 'bpf', fx.root]);
    fx.#mounted = true;
    mkdirSync(join(fx.root, 'tc/globals'), { recursive: true });
    return fx;
  }

  path(name: string): string {
    return join(this.root, 'tc/globals', name);
  }

  /** An LRU hash map with Cilium's shape (or, for error tests, another shape or type). */
  async createMap(name: string, o: { key?: number; value?: number; entries?: number; type?: string } = {}): Promise<void> {
    const key = o.key ?? (/(ct|any|tcp)6/.test(name) ? 38 : 14);
    await run(systemTool('bpftool'), ['map', 'create', this.path(name), 'type', o.type ?? 'lru_hash', 'key', String(key), 'value', String(o.value ?? 56), 'entries', String(o.entries ?? 1024), 'name', name.slice(0, 15)]);
  }

  /** Writes entries (and deletes keys) in one `bpftool batch` run. */
  async write(name: string, entries: CtEntry[], deletes: Buffer[] = []): Promise<void> {
    const lines = [
      ...entries.map((e) => `map update pinned ${this.path(name)} key hex ${hex(e.key)} value hex ${hex(e.value)}`),
      ...deletes.map((k) => `map delete pinned ${this.path(name)} key hex ${hex(k)}`),
    ];
    if (lines.length === 0) return;
    const file = join(this.root, '..', `${this.root.split('/').pop()}.batch`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    try {
      await run(systemTool('bpftool'), ['batch', 'file', file], { maxBuffer: 64 << 20 });
    } finally {
      rmSync(file, { force: true });
    }
  }

  /** Entries as bpftool reads them back (the independent count). */
  async count(name: string): Promise<number> {
    const { stdout } = await run(systemTool('bpftool'), ['-j', 'map', 'dump', 'pinned', this.path(name)], { maxBuffer: 256 << 20 });
    return (JSON.parse(stdout) as unknown[]).length;
  }

  async destroy(): Promise<void> {
    if (this.#mounted) {
      await run(systemTool('umount'), [this.root]).catch(() => run(systemTool('umount'), ['-l', this.root]));
      this.#mounted = false;
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}
