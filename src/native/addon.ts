// Loads crates/flowsource (the Rust core) as a Node-API addon: a clear error when the platform
// is not Linux, the binary has not been built, or it was built for another contract (its batch
// constants differ from ./records.ts). The raw exports are typed here; the rest of podflow uses
// the handles of ./handle.ts. The Rust side is crates/flowsource/src/napi.rs.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { NativeLoadError } from './errors.ts';
import { BATCH_MAGIC, CT_LAYOUT_CODES, HEADER_BYTES, RECORD_BYTES, SOURCE_KIND_CODES } from './records.ts';
import type { Handles, Sources } from './types.ts';

/** An opaque native handle (a type-tagged Node-API external). */
export type HandleRef = { readonly __native: unique symbol };

/** The section every handle type exports (crate::napi: the generic binding of `Handle`). */
export interface HandleSection<Options, Status> {
  open(options: Options): HandleRef;
  status(handle: HandleRef): Status;
  /** Drops the handle (waits for a tick in flight); closing twice is harmless. */
  close(handle: HandleRef): void;
}

/** A `Source`'s section: a handle that also yields one packed batch (./records.ts) per tick. */
export interface SourceSection<Options, Status> extends HandleSection<Options, Status> {
  tick(handle: HandleRef): Promise<Buffer>;
}

/** The batch constants the addon was built with (crate::records::contract). */
export interface Contract {
  batchMagic: number;
  headerBytes: number;
  recordBytes: number;
  sourceKinds: Record<string, number>;
  ctLayouts: Record<string, number>;
}

type SourceSections = { [T in keyof Sources]: SourceSection<Sources[T]['options'], Sources[T]['status']> };

/** What the addon exports to production code. (Its `testSupport` section is typed apart, in test/harness/native.ts.) */
export interface FlowsourceAddon extends SourceSections {
  contract: Contract;
  conntrack: SourceSections['conntrack'] & {
    /** Reads nf_conntrack_acct in `netns`; with `enable`, sets it when 0. Returns the value before. */
    accounting(netns: string | null, enable: boolean): boolean;
  };
  dns: HandleSection<Handles['dns']['options'], Handles['dns']['status']> & {
    /** Names for addresses given one per line; one name per line, "" when unknown. */
    lookup(handle: HandleRef, addresses: string): string;
  };
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

/** What differs between the addon's contract and this side's (empty: they agree). */
export function contractDifferences(contract: Partial<Contract> | undefined): string[] {
  const ours: Contract = {
    batchMagic: BATCH_MAGIC,
    headerBytes: HEADER_BYTES,
    recordBytes: RECORD_BYTES,
    sourceKinds: SOURCE_KIND_CODES,
    ctLayouts: CT_LAYOUT_CODES,
  };
  if (!contract) return ['it exports no contract'];
  return (Object.keys(ours) as Array<keyof Contract>)
    .filter((k) => JSON.stringify(sorted(contract[k])) !== JSON.stringify(sorted(ours[k])))
    .map((k) => `${k} ${JSON.stringify(contract[k])} (expected ${JSON.stringify(ours[k])})`);
}

function sorted(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)));
}

const loaded = new Map<string, FlowsourceAddon>();

export function loadFlowsource(): FlowsourceAddon {
  if (process.platform !== 'linux') {
    throw new NativeLoadError(
      `podflow's native core (conntrack, Cilium maps) needs Linux; this is ${process.platform}/${process.arch}`,
    );
  }
  const path = addonPath();
  const cached = loaded.get(path);
  if (cached) return cached;
  if (!existsSync(path)) {
    throw new NativeLoadError(`podflow's native core is not built: ${path} is missing (run \`make native\`, which needs cargo)`);
  }
  let addon: FlowsourceAddon;
  try {
    addon = createRequire(import.meta.url)(path) as FlowsourceAddon;
  } catch (e) {
    throw new NativeLoadError(`cannot load podflow's native core ${path}: ${(e as Error).message}`);
  }
  const differences = contractDifferences(addon.contract);
  if (differences.length > 0) {
    throw new NativeLoadError(
      `podflow's native core ${path} was built for another batch contract than src/native/records.ts: ${differences.join('; ')} (rebuild with \`make native\`)`,
    );
  }
  loaded.set(path, addon);
  return addon;
}
