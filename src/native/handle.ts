// The handles of the Rust core, as podflow's components use them. One generic class per trait
// of crates/flowsource/src/source.rs: NativeHandle (open, status, close) and NativeSource
// (plus tick), and DnsNames for the one handle with a call of its own. Every failed call
// throws a NativeError naming the handle type and the operation.
import { type FlowsourceAddon, type HandleRef, type HandleSection, loadFlowsource } from './addon.ts';
import { NativeError, nativeCall } from './errors.ts';
import type { Handles, HandleType, Sources, SourceType } from './types.ts';

/** An open native handle of type `T` (`conntrack`, `cilium`, `packet`, `dns`). */
export class NativeHandle<T extends HandleType> {
  readonly type: T;
  protected readonly addon: FlowsourceAddon;
  #ref: HandleRef | undefined;

  /** Opens a handle: loads the addon, then the Rust core checks `options` and opens it. */
  protected constructor(type: T, options: Handles[T]['options']) {
    this.type = type;
    this.addon = loadFlowsource();
    const section = this.addon[type] as HandleSection<Handles[T]['options'], Handles[T]['status']>;
    this.#ref = nativeCall(type, 'open', () => section.open(options));
  }

  /** The native reference; throws once closed. */
  protected ref(operation: 'tick' | 'status' | 'lookup'): HandleRef {
    if (this.#ref === undefined) throw new NativeError(this.type, operation, new Error(`the ${this.type} handle is closed`));
    return this.#ref;
  }

  get closed(): boolean {
    return this.#ref === undefined;
  }

  status(): Handles[T]['status'] {
    const section = this.addon[this.type] as HandleSection<Handles[T]['options'], Handles[T]['status']>;
    const ref = this.ref('status');
    return nativeCall(this.type, 'status', () => section.status(ref));
  }

  /** Releases the native side (a capture thread stops, sockets and maps close); idempotent. */
  close(): void {
    const ref = this.#ref;
    if (ref === undefined) return;
    this.#ref = undefined;
    nativeCall(this.type, 'close', () => this.addon[this.type].close(ref));
  }
}

/** A handle that yields one packed batch (./records.ts) per tick: a receiver's source. */
export class NativeSource<T extends SourceType> extends NativeHandle<T> {
  static open<T extends SourceType>(type: T, options: Sources[T]['options']): NativeSource<T> {
    return new NativeSource(type, options);
  }

  /** One interval's packed batch, read off the JS thread. */
  async tick(): Promise<Buffer> {
    const ref = this.ref('tick');
    try {
      return await this.addon[this.type].tick(ref);
    } catch (e) {
      throw new NativeError(this.type, 'tick', e);
    }
  }
}

/** The `dns` handle: DNS responses captured from open to close, asked for names. */
export class DnsNames extends NativeHandle<'dns'> {
  static open(options: Handles['dns']['options']): DnsNames {
    return new DnsNames('dns', options);
  }

  /** The name of each address ("" when unknown), in the same order. */
  lookup(addresses: readonly string[]): string[] {
    const ref = this.ref('lookup');
    return nativeCall('dns', 'lookup', () => this.addon.dns.lookup(ref, addresses.join('\n'))).split('\n');
  }
}

/** Reads net.netfilter.nf_conntrack_acct in `netns` (null: podflow's own); with `enable`, sets it when 0. Returns the value before. */
export function conntrackAccounting(netns: string | null, enable: boolean): boolean {
  const addon = loadFlowsource();
  return nativeCall('conntrack', 'accounting', () => addon.conntrack.accounting(netns, enable));
}
