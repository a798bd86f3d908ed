// The request of exporters that send each batch as it is (file, debug, prometheus).
import type { ExportRequest } from '../../contracts/component.ts';
import type { FlowBatch } from '../../model/index.ts';

export interface BatchRequest extends ExportRequest {
  readonly batch: FlowBatch;
}

/** `toRequests` of an exporter that sends every batch whole: one request per batch. */
export function wholeBatch(batch: FlowBatch): BatchRequest[] {
  return [{ batch, flowCount: batch.flows.length }];
}
