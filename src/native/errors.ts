// The errors of the native interface: the addon cannot be loaded (or was built for another
// contract), or a call into it failed. A failed call keeps the Rust core's message as it is
// (it names the place: the map path, the netlink message, the privilege) and adds which
// handle and which operation it came from.

/** The native core cannot be used: wrong platform, not built, unloadable, or stale. */
export class NativeLoadError extends Error {
  override readonly name = 'NativeLoadError';
}

/** What was being done when a native call failed. */
export type NativeOperation = 'open' | 'tick' | 'status' | 'close' | 'lookup' | 'accounting';

/** A call into the native core failed; `message` is the core's own. */
export class NativeError extends Error {
  override readonly name = 'NativeError';
  /** The handle type (`conntrack`, `cilium`, `packet`, `dns`). */
  readonly handle: string;
  readonly operation: NativeOperation;
  /** The errno name when the core failed on a system call (`EPERM`, `EACCES`, ...). */
  readonly code: string | undefined;

  constructor(handle: string, operation: NativeOperation, cause: unknown, message?: string) {
    super(message ?? (cause instanceof Error ? cause.message : String(cause)), { cause });
    this.handle = handle;
    this.operation = operation;
    const code = (cause as { code?: unknown } | undefined)?.code;
    this.code = typeof code === 'string' ? code : undefined;
  }
}

/** Runs `call`, turning what it throws into a NativeError. */
export function nativeCall<R>(handle: string, operation: NativeOperation, call: () => R): R {
  try {
    return call();
  } catch (e) {
    throw new NativeError(handle, operation, e);
  }
}
