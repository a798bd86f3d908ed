// The flow record every receiver emits and every exporter writes (../../docs/data-model.md).

export type AttributeValue = string | number | boolean;

/** Flat attribute map; keys come from ./attributes.ts. */
export type Attributes = Record<string, AttributeValue>;

/**
 * One flow over one interval, oriented from its initiator.
 * Counters are deltas over [startTimeUnixNano, timeUnixNano) unless a processor
 * (reduce with `temporality: cumulative`) says otherwise in the batch.
 */
export interface Flow {
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  /**
   * May be frozen and shared: reduce emits each group's map again every interval the group has
   * traffic. Never change a frozen map in place; set attributes with `setFlowAttribute` (or
   * replace the map).
   */
  attributes: Attributes;
  /** Bytes source → destination (L3 length, as the kernel counts them). */
  txBytes: number;
  /** Bytes destination → source. */
  rxBytes: number;
  txPackets: number;
  rxPackets: number;
  /** Connections first seen during the interval. */
  connections: number;
  /**
   * What the interval's traffic costs, in 10^-21 USD (./cost.ts), set by the netcost processor.
   * An integer so that sums are exact; absent when nothing priced the flow (not a cost of zero).
   */
  costZeptoUsd?: bigint;
}

export type Temporality = 'delta' | 'cumulative';

/** What a receiver hands to a pipeline, and each stage to the next. */
export interface FlowBatch {
  flows: Flow[];
  /** `delta` from receivers; `cumulative` after a cumulative reduce. */
  temporality: Temporality;
  /**
   * Who reported the flows (`k8s.node.name`, ...), when it is not this process: a batch received
   * over OTLP carries its sender's resource. Absent: this podflow's own `service.resource`.
   */
  resource?: Attributes;
}

/** A batch of other flows from the same reporter as `batch` (processors that drop or replace flows). */
export function withFlows(batch: FlowBatch, flows: Flow[]): FlowBatch {
  return batch.resource ? { flows, temporality: batch.temporality, resource: batch.resource } : { flows, temporality: batch.temporality };
}

export const COUNTER_FIELDS = ['txBytes', 'rxBytes', 'txPackets', 'rxPackets', 'connections'] as const;
export type CounterField = (typeof COUNTER_FIELDS)[number];

const NS_PER_MS = 1_000_000n;

/** A time in ms since the epoch as the ns a Flow's times are in. */
export function unixNanoFromMs(ms: number): bigint {
  return BigInt(ms) * NS_PER_MS;
}

/** A Flow's time in whole ms since the epoch. */
export function msFromUnixNano(ns: bigint): number {
  return Number(ns / NS_PER_MS);
}

/**
 * Sets one attribute of `flow`: in its map, or, when that map is frozen (shared, see
 * Flow.attributes), in a copy that becomes the flow's own.
 */
export function setFlowAttribute(flow: Flow, key: string, value: AttributeValue): void {
  const attributes = flow.attributes;
  if (Object.isFrozen(attributes)) flow.attributes = { ...attributes, [key]: value };
  else attributes[key] = value;
}

/** A deep-enough copy for fan-out: each consumer may mutate its own attributes. */
export function cloneBatch(batch: FlowBatch): FlowBatch {
  return withFlows(batch, batch.flows.map((f) => ({ ...f, attributes: { ...f.attributes } })));
}
