// bin/podflow: run | validate | components.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { AnyFactory } from './contracts/component.ts';
import { ConfigError } from './config/issues.ts';
import { loadConfigFile, type PodflowConfig } from './config/load.ts';
import { Service } from './pipeline/service.ts';
import { createLogger } from './telemetry/logger.ts';

const USAGE = `usage: podflow <command> [--config FILE]

commands:
  run         run the pipelines of --config (default ./config.yaml)
  validate    check --config; prints every error and exits 1, or prints "ok"
  components  list the receiver, processor and exporter types
  version     print the version`;

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Runs one command; resolves with the process exit code. */
export async function main(argv: string[], factories: readonly AnyFactory[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { config: { type: 'string', short: 'c', default: 'config.yaml' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const [command] = parsed.positionals;
  const file = parsed.values.config;
  if (parsed.values.help || command === undefined || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined && !parsed.values.help ? 2 : 0;
  }
  switch (command) {
    case 'version':
      process.stdout.write(`podflow ${VERSION}\n`);
      return 0;
    case 'components':
      for (const kind of ['receiver', 'processor', 'exporter'] as const) {
        const of = factories.filter((f) => f.kind === kind);
        if (of.length === 0) continue;
        process.stdout.write(`${kind}s:\n`);
        for (const f of of) process.stdout.write(`  ${f.type.padEnd(24)} ${f.description}\n`);
      }
      return 0;
    case 'validate':
      try {
        await loadConfigFile(file, factories);
        process.stdout.write('ok\n');
        return 0;
      } catch (err) {
        process.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`);
        return 1;
      }
    case 'run':
      return run(file, factories);
    default:
      process.stderr.write(`unknown command "${command}"\n${USAGE}\n`);
      return 2;
  }
}

async function run(file: string, factories: readonly AnyFactory[]): Promise<number> {
  let config: PodflowConfig;
  try {
    config = await loadConfigFile(file, factories);
  } catch (err) {
    process.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`);
    return 1;
  }
  const { level, encoding } = config.service.telemetry.logs;
  const logger = createLogger(level, encoding);
  let service = new Service(config, logger);
  try {
    await service.start();
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'podflow could not start');
    return 1;
  }

  // One signal handled at a time: a reload never overlaps a shutdown.
  let busy: Promise<unknown> = Promise.resolve();
  const serial = (task: () => Promise<unknown>) => (busy = busy.then(task, task));

  const reload = async () => {
    let next: PodflowConfig;
    try {
      next = await loadConfigFile(file, factories);
    } catch (err) {
      logger.error({ err: (err as Error).message, file }, 'reload rejected: keeping the running pipelines');
      return;
    }
    logger.info({ file }, 'reloading');
    await service.shutdown();
    const candidate = new Service(next, logger);
    try {
      await candidate.start();
      service = candidate;
      config = next;
      logger.info('reload done');
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'new pipelines failed to start: restarting the previous ones');
      service = new Service(config, logger);
      await service.start();
    }
  };

  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      void serial(async () => {
        await service.shutdown();
        resolve(0);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => void serial(reload));
  });
}

/** Sets the exit code and makes sure timers of stopped components cannot keep the process alive. */
export function exitWith(result: Promise<number>): void {
  result.then(
    (code) => {
      process.exitCode = code;
      setTimeout(() => process.exit(code), 200).unref();
    },
    (err: Error) => {
      process.stderr.write(`podflow: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
