// A live service map served by podflow itself: keeps the flows it receives in a bounded window
// (MemoryGraphSource) — or reads PostgreSQL's graph functions — and serves the page and its API
// (ServicemapServer). Exporting only updates memory; it never waits on the network.
import type { AddressInfo } from 'node:net';
import type { ComponentContext, ComponentEndpoints, Exporter } from '../../contracts/component.ts';
import { wholeBatch, type BatchRequest } from '../shared/batch-request.ts';
import type { FlowBatch } from '../../model/index.ts';
import { sharedCounter, sharedGauge } from '../../telemetry/shared-metrics.ts';
import { postgresSource, type ServicemapConfig } from './config.ts';
import type { GraphSource } from './graph.ts';
import { ServicemapServer } from './http-server.ts';
import { MemoryGraphSource } from './memory-source.ts';
import { PostgresGraphSource } from './postgres-source.ts';

export class ServicemapExporter implements Exporter<BatchRequest> {
  readonly #ctx: ComponentContext;
  readonly #config: ServicemapConfig;
  readonly #memory: MemoryGraphSource | undefined;
  readonly #source: GraphSource;
  readonly #server: ServicemapServer;
  readonly #edgesGauge;
  readonly #mergedCounter;
  #refresh: NodeJS.Timeout | undefined;
  #ignoredLogged = false;

  constructor(ctx: ComponentContext, config: ServicemapConfig) {
    this.#ctx = ctx;
    this.#config = config;
    const postgres = postgresSource(config);
    this.#memory = postgres ? undefined : new MemoryGraphSource(config.window, config.max_edges, Date.now());
    this.#source = postgres ? new PostgresGraphSource(postgres, config.window) : this.#memory!;
    this.#edgesGauge = sharedGauge(ctx.metrics, 'podflow_exporter_servicemap_edges', 'Edges the servicemap exporter keeps in memory.', ['exporter']);
    this.#mergedCounter = sharedCounter(ctx.metrics, 'podflow_exporter_servicemap_merged_edges_total', 'Edges merged into "other" because max_edges was reached.', ['exporter']);
    const streams = sharedGauge(ctx.metrics, 'podflow_exporter_servicemap_stream_clients', 'Clients of /api/graph/stream right now.', ['exporter']);
    this.#server = new ServicemapServer({
      id: ctx.id,
      endpoint: config.endpoint,
      maxWindowMs: config.window,
      auth: config.auth,
      allowedOrigins: config.cors.allowed_origins,
      source: this.#source,
      logger: ctx.logger,
      onStreamClients: (count) => streams.set({ exporter: ctx.id }, count),
    });
  }

  /** The bound address (useful when the configured port is 0). */
  get address(): AddressInfo {
    return this.#server.address;
  }

  async start(): Promise<void> {
    await this.#server.listen();
    const postgres = postgresSource(this.#config);
    // PostgreSQL changes without telling: stream clients get a fresh graph every refresh.
    if (postgres) this.#refresh = setInterval(() => this.#server.changed(), postgres.refresh).unref();
    const { address, port, family } = this.address;
    const host = family === 'IPv6' ? `[${address}]` : address;
    this.#ctx.logger.info({ url: `http://${host}:${port}/`, source: this.#source.kind }, 'service map listening');
  }

  endpoints(): ComponentEndpoints {
    const { address, port, family } = this.address;
    return { listening: [`http://${family === 'IPv6' ? `[${address}]` : address}:${port}/`] };
  }

  toRequests(batch: FlowBatch): BatchRequest[] {
    return wholeBatch(batch);
  }

  async send({ batch }: BatchRequest): Promise<void> {
    if (!this.#memory) {
      if (!this.#ignoredLogged) this.#ctx.logger.info('source is postgres: the flows of this pipeline are not kept by the service map');
      this.#ignoredLogged = true;
      return;
    }
    const merged = this.#memory.apply(batch, Date.now());
    if (merged) this.#mergedCounter.inc({ exporter: this.#ctx.id }, merged);
    this.#edgesGauge.set({ exporter: this.#ctx.id }, this.#memory.window.size);
    this.#server.changed();
  }

  async shutdown(): Promise<void> {
    clearInterval(this.#refresh);
    await this.#server.close();
    await this.#source.close();
  }
}
