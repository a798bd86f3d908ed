// Agents and gateways as the runtime builds them from YAML: an agent service (a test receiver →
// loadbalancing exporter, static gateways, gRPC) and two gateway services (otlp receiver →
// recording exporter). Every flow the agent emitted, its final batch included, reaches exactly
// one gateway, once, with the agent's service.resource as its batch's resource.
import test from 'ava';
import pino from 'pino';
import { parseConfig } from '../../config/load.ts';
import { Service } from '../../pipeline/service.ts';
import { loadbalancingExporterFactory } from '../../exporters/loadbalancing/index.ts';
import { otlpReceiverFactory } from './index.ts';
import { freePort } from '../../../test/harness/ports.ts';
import { recorded, TEST_FACTORIES } from '../../../test/harness/test-components.ts';

const silent = pino({ level: 'silent' });
const factories = [otlpReceiverFactory, loadbalancingExporterFactory, ...TEST_FACTORIES];

test('agent → loadbalancing → two gateways (otlp receiver): every flow once, spread, with the agent\'s resource', async (t) => {
  const ports = [await freePort(), await freePort()];
  const gateways = ports.map((port, i) => new Service(parseConfig(`
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${port}
        max_request_body_size: 8MiB
    max_pending_requests: 4
    retry_after: 100ms
exporters:
  recording/g${i}: {}
service:
  telemetry: {metrics: {address: "127.0.0.1:0"}}
  pipelines:
    flows: {receivers: [otlp], exporters: [recording/g${i}]}
`, factories), silent));
  for (const g of gateways) await g.start();
  t.teardown(() => Promise.all(gateways.map((g) => g.shutdown())));

  const agent = new Service(parseConfig(`
receivers:
  sequence: {interval: 20ms, flows_per_batch: 5}
exporters:
  loadbalancing:
    routing_key: attributes
    routing_attributes: [test.seq]
    protocol:
      otlp:
        temporality: delta
    resolver:
      static:
        hostnames: [127.0.0.1:${ports[0]}, 127.0.0.1:${ports[1]}]
    timeout: 2s
    retry_on_failure: {initial_interval: 20ms, max_interval: 100ms}
service:
  resource:
    k8s.node.name: agent-node
  telemetry: {metrics: {address: "127.0.0.1:0"}}
  pipelines:
    agent: {receivers: [sequence], exporters: [loadbalancing]}
`, factories), silent);
  await agent.start();
  await new Promise((r) => setTimeout(r, 300));
  await agent.shutdown();

  const perGateway = ['recording/g0', 'recording/g1'].map((id) => recorded.get(id) ?? []);
  const flows = perGateway.flat().flatMap((b) => b.flows);
  const seqs = flows.map((f) => Number(f.attributes['test.seq'])).sort((a, b) => a - b);
  t.true(seqs.length >= 10, `${seqs.length} flows`);
  t.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i), 'each flow once, none missing');
  t.true(flows.some((f) => f.attributes['test.final'] === true), 'the final batch at shutdown was delivered');
  t.true(perGateway.every((batches) => batches.length > 0), 'both gateways got flows');
  t.true(perGateway.flat().every((b) => b.resource?.['k8s.node.name'] === 'agent-node' && b.temporality === 'delta'));
  t.true(flows.every((f) => f.txBytes === 100 + Number(f.attributes['test.seq']) && f.rxBytes === 200 + Number(f.attributes['test.seq'])));
});
