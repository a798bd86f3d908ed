// Checks of how components are put together, made on the config alone before anything starts:
// what temporality reaches each processor and exporter (a cumulative reduce in front of the
// postgres exporter), two components listening on one port, and components no pipeline uses.
// load.ts runs them for `validate` and `run` alike; the factories say what they need
// (checkInput, outputTemporality, listenEndpoints in src/contracts/component.ts).
import type { PipelineInput, ProcessorFactory, WiringProblem } from '../contracts/component.ts';
import { parseListenAddress, sameListenPort, type ListenAddress } from './endpoints.ts';
import type { ComponentConfig } from './load.ts';
import type { Section, ServiceSettings } from './service-schema.ts';

export type WiringPlace = (path: readonly (string | number)[], message: string, severity: WiringProblem['severity']) => void;

interface Wired {
  receivers: ReadonlyMap<string, ComponentConfig>;
  processors: ReadonlyMap<string, ComponentConfig>;
  exporters: ReadonlyMap<string, ComponentConfig>;
  service: ServiceSettings;
}

/** Reports every wiring problem of a config whose pipelines reference only declared components. */
export function checkWiring(config: Wired, place: WiringPlace): void {
  checkTemporality(config, place);
  checkListenPorts(config, place);
  checkUnused(config, place);
}

function checkTemporality(config: Wired, place: WiringPlace): void {
  for (const [name, pipeline] of Object.entries(config.service.pipelines)) {
    // Receivers emit deltas (src/model/flow.ts); a processor may change that (reduce).
    let input: PipelineInput = { temporality: 'delta', from: 'the receivers' };
    const at = (section: 'processors' | 'exporters', i: number, component: ComponentConfig) => {
      const problem = component.factory.checkInput?.(component.config, input);
      if (problem) place(['service', 'pipelines', name, section, i], `${component.id}: ${problem.message}`, problem.severity);
    };
    let known = true;
    pipeline.processors.forEach((id, i) => {
      const component = config.processors.get(id);
      if (!component || !known) {
        known = false; // an invalid processor has its own error; what follows it is unknown
        return;
      }
      at('processors', i, component);
      const output = (component.factory as ProcessorFactory).outputTemporality?.(component.config, input.temporality) ?? input.temporality;
      if (output !== input.temporality) input = { temporality: output, from: `${id} (processors[${i}])` };
    });
    if (!known) continue;
    pipeline.exporters.forEach((id, i) => {
      const component = config.exporters.get(id);
      if (component) at('exporters', i, component);
    });
  }
}

function used(config: Wired, section: Section): Set<string> {
  return new Set(Object.values(config.service.pipelines).flatMap((p) => p[section]));
}

function checkListenPorts(config: Wired, place: WiringPlace): void {
  const taken: Array<{ address: ListenAddress; path: (string | number)[]; name: string }> = [];
  const claim = (address: ListenAddress, path: (string | number)[]) => {
    const name = path.join('.');
    const other = taken.find((t) => sameListenPort(t.address, address));
    if (other) {
      place(path, `${address.host}:${address.port} is also where ${other.name} listens: give each its own port`, 'error');
    } else {
      taken.push({ address, path, name });
    }
  };
  const metrics = config.service.telemetry.metrics.address;
  const metricsAddress = metrics ? parseListenAddress(metrics) : undefined;
  if (metricsAddress && !(metricsAddress instanceof Error)) claim(metricsAddress, ['service', 'telemetry', 'metrics', 'address']);
  for (const section of ['receivers', 'processors', 'exporters'] as const) {
    for (const id of used(config, section)) {
      const component = config[section].get(id);
      if (!component?.factory.listenEndpoints) continue;
      for (const endpoint of component.factory.listenEndpoints(component.config)) {
        claim({ host: endpoint.host, port: endpoint.port }, [section, id, endpoint.key]);
      }
    }
  }
}

function checkUnused(config: Wired, place: WiringPlace): void {
  for (const section of ['receivers', 'processors', 'exporters'] as const) {
    const inPipelines = used(config, section);
    for (const id of config[section].keys()) {
      if (!inPipelines.has(id)) place([section, id], `${id} is declared but no pipeline uses it: it is not started`, 'warning');
    }
  }
}
