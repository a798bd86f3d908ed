// The native core's test and bench support (crates/flowsource/src/testdata.rs, exported as
// the addon's `testSupport` section): synthetic data, never used by a component. Typed here,
// apart from the production interface of src/native/.
import { type FlowsourceAddon, loadFlowsource } from '../../src/native/addon.ts';

/** What `conntrackInsertEntries` did. */
export interface InsertReport {
  inserted: number;
  refused: number;
  /** The kernel's first refusal. */
  firstError: string | null;
}

interface TestSupport {
  /** Inserts `count` synthetic UDP entries 10.1.X.Y:port → 10.200.0.N:53 over ctnetlink, `batch` per datagram. */
  conntrackInsertEntries(netns: string | null, count: number, batch: number): Promise<InsertReport>;
  /** Creates a pinned LRU map of Cilium's shape at `path` with `count` synthetic OUT TCP entries (v1.15 layout: tx 3 packets / 200 bytes, rx 2 / 140). Resolves to the entries it holds. */
  ciliumCreateMap(path: string, keySize: number, maxEntries: number, count: number): Promise<number>;
}

function testSupport(): TestSupport {
  return (loadFlowsource() as FlowsourceAddon & { testSupport: TestSupport }).testSupport;
}

/** Fills `netns`'s conntrack table with `count` synthetic UDP entries (a throwaway namespace). */
export function conntrackInsertEntries(netns: string | null, count: number, batch: number): Promise<InsertReport> {
  return testSupport().conntrackInsertEntries(netns, count, batch);
}

/** A pinned Cilium-shaped CT map at `path` filled with `count` synthetic entries; resolves to the entries held. */
export function ciliumCreateMap(path: string, keySize: number, maxEntries: number, count: number): Promise<number> {
  return testSupport().ciliumCreateMap(path, keySize, maxEntries, count);
}
