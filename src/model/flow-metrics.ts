// How a flow travels as OpenTelemetry metrics (OTLP): the names podflow's otlp exporter writes
// and its otlp receiver reads back, in one place (docs/data-model.md, "Outputs").
//
// One flow over one interval is up to five monotonic integer sum points, each with the flow's
// attributes: network.flow.io and network.flow.packets once per direction that carried anything
// (plus network.io.direction), network.flow.connections when connections were opened; and, when
// the netcost processor priced it at more than zero, one monotonic double sum point
// network.flow.cost in USD (no direction).

export const FLOW_BYTES_METRIC = 'network.flow.io';
export const FLOW_BYTES_UNIT = 'By';
export const FLOW_BYTES_DESCRIPTION = 'Bytes of network flows (L3 length), by direction: transmit is source to destination.';

export const FLOW_PACKETS_METRIC = 'network.flow.packets';
export const FLOW_PACKETS_UNIT = '{packet}';
export const FLOW_PACKETS_DESCRIPTION = 'Packets of network flows, by direction: transmit is source to destination.';

export const FLOW_CONNECTIONS_METRIC = 'network.flow.connections';
export const FLOW_CONNECTIONS_UNIT = '{connection}';
export const FLOW_CONNECTIONS_DESCRIPTION = 'Connections of network flows first seen during the interval.';

export const FLOW_COST_METRIC = 'network.flow.cost';
export const FLOW_COST_UNIT = 'USD';
export const FLOW_COST_DESCRIPTION = 'What network flows cost by the cloud\'s billing rules (netcost processor), USD.';

/** The data point attribute that says which way the bytes and packets went. */
export const NETWORK_IO_DIRECTION = 'network.io.direction';
/** Source → destination: a flow's tx counters. */
export const DIRECTION_TRANSMIT = 'transmit';
/** Destination → source: a flow's rx counters. */
export const DIRECTION_RECEIVE = 'receive';

/** The instrumentation scope of podflow's metrics. */
export const FLOW_METRICS_SCOPE = 'podflow';
