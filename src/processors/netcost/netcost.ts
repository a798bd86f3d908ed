// Classes every flow by how the cloud bills its bytes and prices it: the attribute
// `network.flow.cost.class` and the record's `costZeptoUsd` (README.md).
import type { Counter } from 'prom-client';
import { NETWORK_FLOW_COST_CLASS, setFlowAttribute, type FlowBatch } from '../../model/index.ts';
import type { ComponentContext, FlowConsumer, Processor } from '../../contracts/component.ts';
import { sharedCounter } from '../../telemetry/shared-metrics.ts';
import { FlowClassifier, UNKNOWN } from './classify.ts';
import type { NetcostConfig } from './config.ts';
import { COST_CLASSES } from './prices.ts';
import { classPrices, gigabyteOf, Pricer } from './pricer.ts';

export class NetcostProcessor implements Processor {
  readonly #ctx: ComponentContext;
  readonly #next: FlowConsumer;
  readonly #classifier: FlowClassifier;
  readonly #pricer: Pricer;
  readonly #flowsByClass: Counter.Internal[];
  /** Per class, flows of the current batch (counted once per batch, not per flow). */
  readonly #counts = new Float64Array(COST_CLASSES.length);
  #warnedUnknown = false;

  constructor(ctx: ComponentContext, config: NetcostConfig, next: FlowConsumer) {
    this.#ctx = ctx;
    this.#next = next;
    this.#classifier = new FlowClassifier({
      clusterCidrs: config.cluster_cidrs,
      natGateway: config.nat_gateway,
      privateLink: config.private_link,
      vpcPeering: config.vpc_peering,
    });
    this.#pricer = new Pricer(classPrices(config), gigabyteOf(config));
    const counter = sharedCounter(
      ctx.metrics,
      'podflow_processor_netcost_flows_total',
      'Flows the netcost processor priced, by cost class (class="unknown": a zone was missing; priced at the unknown rate, never as free by default)',
      ['processor', 'class'],
    );
    this.#flowsByClass = COST_CLASSES.map((c) => counter.labels({ processor: ctx.id, class: c }));
  }

  async start(): Promise<void> {}

  async shutdown(): Promise<void> {}

  consume(batch: FlowBatch): Promise<void> {
    const classifier = this.#classifier;
    const pricer = this.#pricer;
    const counts = this.#counts;
    counts.fill(0);
    for (const flow of batch.flows) {
      const cls = classifier.classify(flow.attributes);
      setFlowAttribute(flow, NETWORK_FLOW_COST_CLASS, COST_CLASSES[cls]!);
      flow.costZeptoUsd = pricer.price(cls, flow);
      counts[cls]!++;
    }
    for (let c = 0; c < counts.length; c++) if (counts[c]! > 0) this.#flowsByClass[c]!.inc(counts[c]!);
    if (counts[UNKNOWN]! > 0 && !this.#warnedUnknown) {
      this.#warnedUnknown = true;
      this.#ctx.logger.warn(
        { processor: this.#ctx.id, flows: counts[UNKNOWN] },
        'netcost: flows without both ends\' zones are priced at the unknown rate (run k8sattributes first; label nodes with topology.kubernetes.io/zone); podflow_processor_netcost_flows_total{class="unknown"} counts them',
      );
    }
    return this.#next.consume(batch);
  }
}
