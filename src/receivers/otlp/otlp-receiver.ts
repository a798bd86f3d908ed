// The otlp receiver: flows sent by other podflows (agents' otlp exporters, or a Collector passing
// their metrics on) come back as FlowBatches with their sender's resource, over OTLP/HTTP and
// OTLP/gRPC (http-server.ts, grpc-server.ts), both feeding one Intake.
import type { ComponentContext, FlowConsumer, Receiver } from '../../contracts/component.ts';
import { sharedCounter } from '../../telemetry/shared-metrics.ts';
import type { OtlpReceiverConfig } from './config.ts';
import { OtlpGrpcServer } from './grpc-server.ts';
import { OtlpHttpServer } from './http-server.ts';
import { Intake } from './intake.ts';

export class OtlpReceiver implements Receiver {
  readonly #ctx: ComponentContext;
  readonly #http: OtlpHttpServer | undefined;
  readonly #grpc: OtlpGrpcServer | undefined;
  readonly #grpcHost: string;
  /** Where it listens once started (`host:port`; port 0 in the config is the port bound). */
  readonly listening: { http?: string; grpc?: string } = {};

  constructor(ctx: ComponentContext, config: OtlpReceiverConfig, next: FlowConsumer) {
    this.#ctx = ctx;
    const refused = sharedCounter(ctx.metrics, 'podflow_receiver_refused_requests_total', 'Requests a receiver refused, by protocol and reason (malformed, not_a_flow, content_type, too_large, unauthenticated, pipeline_full, pipeline_error, not_found).', ['receiver', 'protocol', 'reason']);
    const intake = new Intake(ctx.id, next, config.max_pending_requests, refused);
    const { http, grpc } = config.protocols;
    this.#grpcHost = grpc?.endpoint.host ?? '';
    if (http) this.#http = new OtlpHttpServer(http, intake, config.retry_after, ctx.logger);
    if (grpc) this.#grpc = new OtlpGrpcServer(grpc, intake, config.retry_after, ctx.logger);
  }

  async start(): Promise<void> {
    try {
      if (this.#http) {
        const address = await this.#http.listen();
        this.listening.http = `${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
      }
      if (this.#grpc) {
        const port = await this.#grpc.listen();
        const host = this.#grpcHost;
        this.listening.grpc = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      }
    } catch (err) {
      await this.shutdown();
      throw new Error(`otlp receiver cannot listen: ${(err as Error).message}`, { cause: err });
    }
    this.#ctx.logger.info({ receiver: this.#ctx.id, ...this.listening }, 'otlp receiver listening');
  }

  async shutdown(): Promise<void> {
    await Promise.all([this.#http?.close(), this.#grpc?.close()]);
  }
}
