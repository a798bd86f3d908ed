import { z } from 'zod';
import { httpUrl } from '../shared/endpoint.ts';
import { exporterHelperKeys } from '../shared/exporter-helper.ts';
import { checkOtlpClient, otlpClientKeys } from '../shared/otlp/config.ts';

export { metricsUrl } from '../shared/otlp/config.ts';

export const configSchema = z
  .strictObject({
    /**
     * OTLP/HTTP base URL (`/v1/metrics` is appended unless the URL already ends with it), or the
     * OTLP/gRPC server as `http(s)://host:port` with `protocol: grpc`.
     */
    endpoint: httpUrl().default('http://localhost:4318'),
    ...otlpClientKeys,
    /**
     * The exporter queue: one request per batch (one HTTP request / gRPC call per
     * max_request_size slice); `timeout` bounds one attempt.
     */
    ...exporterHelperKeys({ queue_size: 100, num_consumers: 1, max_num_consumers: 16, timeout: 10_000, max_elapsed_time: 300_000 }),
  })
  .superRefine(checkOtlpClient);

export type OtlpConfig = z.infer<typeof configSchema>;
