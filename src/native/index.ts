// The TypeScript face of crates/flowsource, the one module that knows the native interface:
// loading (./addon.ts), the handles (./handle.ts), the options and status types (./types.ts),
// the packed batch (./records.ts) and the errors (./errors.ts). docs/native-contract.md
// describes the seam as a whole.
export { addonPath, loadFlowsource } from './addon.ts';
export { NativeError, NativeLoadError, type NativeOperation } from './errors.ts';
export { conntrackAccounting, DnsNames, NativeHandle, NativeSource } from './handle.ts';
export { decodeBatch, type DecodedBatch, type TickStats } from './records.ts';
export type * from './types.ts';
