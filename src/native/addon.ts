// Loads crates/flowsource (the Rust core) as a Node-API addon, with a clear error when the
// platform is not Linux or the binary has not been built. The functions it exports are typed
// here, one section per receiver; the Rust side is crates/flowsource/src/napi.rs.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** An opaque native handle (a type-tagged Node-API external). */
export type NativeHandle = { readonly __native: unique symbol };

export interface FlowsourceAddon {
  // conntrack (src/receivers/conntrack)
  conntrackOpen(
    netns: string | null,
    source: 'auto' | 'netlink' | 'procfs',
    destroyEvents: boolean,
    startup: 'baseline' | 'count',
    excludeCidrs: string,
  ): NativeHandle;
  /** One interval's packed batch (layout: ./records.ts). */
  conntrackTick(handle: NativeHandle): Promise<Buffer>;
  /** JSON: {source, destroyEvents, fallbackReason, tracked}. */
  conntrackStatus(handle: NativeHandle): string;
  conntrackClose(handle: NativeHandle): void;
  /** Reads nf_conntrack_acct in `netns`; with `enable`, sets it when 0. Returns the value before. */
  conntrackAccounting(netns: string | null, enable: boolean): boolean;
  /** Bench/test helper: inserts `count` synthetic UDP entries. JSON {inserted, refused, firstError}. */
  conntrackInsertTestEntries(netns: string | null, count: number, batch: number): Promise<string>;
}

const CRATE_DIR = fileURLToPath(new URL('../../crates/flowsource/', import.meta.url));

/** The napi-rs platform suffix of this process (`linux-x64-gnu`, `linux-arm64-musl`, ...). */
export function platformSuffix(): string {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const libc = report?.header?.glibcVersionRuntime ? 'gnu' : 'musl';
  return `${process.platform}-${process.arch}-${libc}`;
}

/** Where the addon is looked for: PODFLOW_FLOWSOURCE (a file path) or the crate folder. */
export function addonPath(): string {
  return process.env.PODFLOW_FLOWSOURCE ?? `${CRATE_DIR}flowsource.${platformSuffix()}.node`;
}

const loaded = new Map<string, FlowsourceAddon>();

export function loadFlowsource(): FlowsourceAddon {
  if (process.platform !== 'linux') {
    throw new Error(
      `podflow's native core (conntrack, Cilium maps) needs Linux; this is ${process.platform}/${process.arch}`,
    );
  }
  const path = addonPath();
  const cached = loaded.get(path);
  if (cached) return cached;
  if (!existsSync(path)) {
    throw new Error(`podflow's native core is not built: ${path} is missing (run \`make native\`, which needs cargo)`);
  }
  let addon: FlowsourceAddon;
  try {
    addon = createRequire(import.meta.url)(path) as FlowsourceAddon;
  } catch (e) {
    throw new Error(`cannot load podflow's native core ${path}: ${(e as Error).message}`);
  }
  loaded.set(path, addon);
  return addon;
}
