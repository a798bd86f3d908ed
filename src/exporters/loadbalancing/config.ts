// The loadbalancing exporter's configuration, shaped like the OpenTelemetry Collector's
// loadbalancingexporter: `routing_key`, `protocol: {otlp: {...}}`, `resolver: {static | dns}`,
// and the exporter queue keys.
import { z } from 'zod';
import { durationMs } from '../../config/units.ts';
import { exporterHelperKeys } from '../shared/exporter-helper.ts';
import { checkOtlpClient, DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT, otlpClientKeys } from '../shared/otlp/config.ts';

/** `host:port`, a host name or address (IPv6 in brackets) and a port. */
const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):\d{1,5}$/, { message: 'must be host:port (e.g. podflow-gateway-0:4317, [fd00::1]:4317)' });

export const loadbalancingConfigSchema = z
  .strictObject({
    /**
     * What one gateway always gets: `source` (the flow's source.address), `service` (the flow's
     * destination service: destination.k8s.service.name, else destination.original.address, else
     * destination.address) or `attributes` (the values of `routing_attributes`).
     */
    routing_key: z.enum(['source', 'service', 'attributes']).default('source'),
    /** With routing_key: attributes, the attribute keys whose values route a flow. */
    routing_attributes: z.array(z.string().min(1)).default([]),
    /** How each gateway is sent to: every key of the otlp exporter but `endpoint` (gRPC by default). */
    protocol: z
      .strictObject({
        otlp: z.strictObject({ ...otlpClientKeys, protocol: z.enum(['http', 'grpc']).default('grpc') }).superRefine(checkOtlpClient).prefault({}),
      })
      .prefault({}),
    /** Where the gateways are: exactly one of `static` and `dns`. */
    resolver: z
      .strictObject({
        static: z.strictObject({ hostnames: z.array(hostPort).min(1, 'list at least one gateway') }).optional(),
        dns: z
          .strictObject({
            /** A name whose A/AAAA records are the gateways (a headless Service). */
            hostname: z.string().min(1),
            /** The gateways' port; default: 4317 for grpc, 4318 for http. */
            port: z.number().int().min(1).max(65_535).optional(),
            /** How often the name is resolved again. */
            interval: durationMs({ min: 100, max: 3_600_000 }).default(5_000),
            /** Deadline of one resolution. */
            timeout: durationMs({ min: 10, max: 60_000 }).default(1_000),
          })
          .optional(),
      })
      .refine((r) => (r.static === undefined) !== (r.dns === undefined), { message: 'set exactly one of resolver.static and resolver.dns' }),
    /** The exporter queue; requests are per gateway, so several consumers keep one slow gateway from holding the others up. */
    ...exporterHelperKeys({ queue_size: 100, num_consumers: 4, max_num_consumers: 64, timeout: 10_000, max_elapsed_time: 300_000 }),
  })
  .superRefine((config, ctx) => {
    if (config.routing_key === 'attributes' && config.routing_attributes.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'routing_key: attributes needs routing_attributes (the attribute keys to route by)', path: ['routing_attributes'] });
    }
  });

export type LoadbalancingConfig = z.infer<typeof loadbalancingConfigSchema>;

/** The port of the gateways found through DNS. */
export function dnsPort(config: LoadbalancingConfig): number {
  return config.resolver.dns?.port ?? (config.protocol.otlp.protocol === 'grpc' ? DEFAULT_GRPC_PORT : DEFAULT_HTTP_PORT);
}
