// Data points of podflow's flow metrics (src/model/flow-metrics.ts) → flow records: the points of
// one flow (the same attributes but network.io.direction, the same start and time) become one
// Flow again, network.flow.io / network.flow.packets by direction into tx/rx bytes/packets,
// network.flow.connections into connections and network.flow.cost (USD, a double) into
// costZeptoUsd: the double's decimal rounded to the zepto-dollar (zeptoUsdOfNumber), so a cost is
// exact to the ~15-17 significant digits a double carries. A flow without a cost point has no
// cost. Points come from the protobuf or the JSON decoder; what is not a flow point is refused
// with the place it was found.
import { zeptoUsdOfNumber, type Attributes, type AttributeValue, type Flow, type Temporality } from '../../model/index.ts';
import {
  DIRECTION_RECEIVE,
  DIRECTION_TRANSMIT,
  FLOW_BYTES_METRIC,
  FLOW_CONNECTIONS_METRIC,
  FLOW_COST_METRIC,
  FLOW_PACKETS_METRIC,
  NETWORK_IO_DIRECTION,
} from '../../model/flow-metrics.ts';

/** A request that cannot be read as flows: `place` is the path in the message (resourceMetrics[0].scopeMetrics[0]...). */
export class OtlpInputError extends Error {
  readonly reason: 'malformed' | 'not_a_flow';
  constructor(reason: 'malformed' | 'not_a_flow', place: string, message: string) {
    super(`${place}: ${message}`);
    this.name = 'OtlpInputError';
    this.reason = reason;
  }
}

/** What one ResourceMetrics of a request carried, per temporality. */
export interface ReceivedBatch {
  resource: Attributes;
  temporality: Temporality;
  flows: Flow[];
}

export type FlowMetric = 'bytes' | 'packets' | 'connections' | 'cost';

/**
 * A data point's attributes (network.io.direction aside), shared by the points of one flow: the
 * decoder gives the points of one attribute set the same object, and the flows made of it are
 * kept on it (one per interval and temporality: nearly always one, so the first is a field).
 */
export interface PointAttributes {
  attributes: Attributes;
  /** A second flow with the same attributes gets its own copy (processors may change them in place). */
  used: boolean;
  /** The first flow made of these attributes, and its temporality. */
  flow: Flow | undefined;
  temporality: Temporality | undefined;
  /** Flows after the first (other intervals or temporality), or undefined. */
  more: Array<{ temporality: Temporality; flow: Flow }> | undefined;
}

/** Where a point is in its request, for errors: a string, or built only when an error needs it. */
export type Place = string | { place(): string };

function placeOf(where: Place): string {
  return typeof where === 'string' ? where : where.place();
}

/** The flow metric a metric name is, or undefined. */
export function flowMetricOf(name: string): FlowMetric | undefined {
  return name === FLOW_BYTES_METRIC ? 'bytes' : name === FLOW_PACKETS_METRIC ? 'packets' : name === FLOW_CONNECTIONS_METRIC ? 'connections' : name === FLOW_COST_METRIC ? 'cost' : undefined;
}

export function notAFlowMetric(place: string, name: string, what = 'metric'): OtlpInputError {
  return new OtlpInputError('not_a_flow', place, `${what} "${name}" is not a podflow flow metric (${FLOW_BYTES_METRIC}, ${FLOW_PACKETS_METRIC}, ${FLOW_CONNECTIONS_METRIC}, ${FLOW_COST_METRIC} as monotonic sums)`);
}

/**
 * Sets an attribute as an own property, whatever its key: a plain assignment of `__proto__` would
 * set the object's prototype and lose the attribute.
 */
export function setAttribute(attributes: Attributes, key: string, value: AttributeValue): void {
  if (key === '__proto__') Object.defineProperty(attributes, key, { value, enumerable: true, writable: true, configurable: true });
  else attributes[key] = value;
}

/** Temporality from the enum value of a Sum. */
export function temporalityOf(value: number, place: string): Temporality {
  if (value === 1) return 'delta';
  if (value === 2) return 'cumulative';
  throw new OtlpInputError('not_a_flow', place, `aggregation_temporality ${value} is neither DELTA (1) nor CUMULATIVE (2)`);
}

/** Collects the points of one ResourceMetrics into flows, one list per temporality. */
export class FlowAssembler {
  readonly #resource: Attributes;
  readonly #flows = { delta: [] as Flow[], cumulative: [] as Flow[] };

  constructor(resource: Attributes) {
    this.#resource = resource;
  }

  /**
   * One data point. `set` holds the point's attributes but network.io.direction (the same object
   * for every point of a flow); `direction` is network.io.direction's value.
   */
  point(metric: FlowMetric, temporality: Temporality, set: PointAttributes, direction: string | undefined, startTimeUnixNano: bigint, timeUnixNano: bigint, value: number, where: Place): void {
    if (!(value >= 0) || !Number.isFinite(value)) throw new OtlpInputError('not_a_flow', placeOf(where), `value ${value} is not a counter (a finite number ≥ 0)`);
    let flow: Flow | undefined;
    const first = set.flow;
    if (first !== undefined && set.temporality === temporality && first.startTimeUnixNano === startTimeUnixNano && first.timeUnixNano === timeUnixNano) flow = first;
    else if (set.more !== undefined) {
      for (const f of set.more) {
        if (f.temporality === temporality && f.flow.startTimeUnixNano === startTimeUnixNano && f.flow.timeUnixNano === timeUnixNano) flow = f.flow;
      }
    }
    if (flow === undefined) {
      // Flows share no attribute object: processors may change a flow's attributes in place.
      const attributes = set.used ? { ...set.attributes } : set.attributes;
      set.used = true;
      flow = { startTimeUnixNano, timeUnixNano, attributes, txBytes: 0, rxBytes: 0, txPackets: 0, rxPackets: 0, connections: 0 };
      if (first === undefined) {
        set.flow = flow;
        set.temporality = temporality;
      } else (set.more ??= []).push({ temporality, flow });
      this.#flows[temporality].push(flow);
    }
    if (metric === 'connections' || metric === 'cost') {
      if (direction !== undefined) throw new OtlpInputError('not_a_flow', placeOf(where), `${metric === 'cost' ? FLOW_COST_METRIC : FLOW_CONNECTIONS_METRIC} has no ${NETWORK_IO_DIRECTION}`);
      if (metric === 'cost') flow.costZeptoUsd = (flow.costZeptoUsd ?? 0n) + zeptoUsdOfNumber(value);
      else flow.connections += value;
      return;
    }
    const transmit = direction === DIRECTION_TRANSMIT;
    if (!transmit && direction !== DIRECTION_RECEIVE) {
      throw new OtlpInputError('not_a_flow', placeOf(where), `${NETWORK_IO_DIRECTION} must be "${DIRECTION_TRANSMIT}" or "${DIRECTION_RECEIVE}" (got ${direction === undefined ? 'none' : JSON.stringify(direction)})`);
    }
    if (metric === 'bytes') {
      if (transmit) flow.txBytes += value;
      else flow.rxBytes += value;
    } else if (transmit) flow.txPackets += value;
    else flow.rxPackets += value;
  }

  batches(): ReceivedBatch[] {
    const out: ReceivedBatch[] = [];
    for (const temporality of ['delta', 'cumulative'] as const) {
      const flows = this.#flows[temporality];
      if (flows.length > 0) out.push({ resource: this.#resource, temporality, flows });
    }
    return out;
  }
}
