// bin/podflow: run | validate | components (version and help: src/command-line.ts).
// `run` loads the pipeline (and through its factories, the modules its components need) only
// once the config is read; `validate` never loads it.
import type { Logger } from 'pino';
import type { AnyFactory } from './contracts/component.ts';
import { answerWithoutLoading, parseCommandLine, USAGE } from './command-line.ts';
import { ConfigError, formatIssue } from './config/issues.ts';
import { loadConfigFile, type PodflowConfig } from './config/load.ts';
import { Redactor } from './config/secrets.ts';
import type { Service } from './pipeline/service.ts';

/** Everything this process writes to stderr outside the logger goes through it too. */
const redactor = new Redactor();

const errorText = (err: unknown) => redactor.redact(err instanceof ConfigError ? err.message : String(err));

/** Runs one command; resolves with the process exit code. */
export async function main(argv: string[], factories: readonly AnyFactory[]): Promise<number> {
  const answered = answerWithoutLoading(argv);
  if (answered !== undefined) return answered;
  const line = parseCommandLine(argv) as Exclude<ReturnType<typeof parseCommandLine>, Error>;
  const file = line.config;
  switch (line.command) {
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
        const config = await loadConfigFile(file, factories);
        for (const w of config.warnings) process.stderr.write(`warning: ${formatIssue(config.file, w)}\n`);
        process.stdout.write('ok\n');
        return 0;
      } catch (err) {
        process.stderr.write(`${errorText(err)}\n`);
        return 1;
      }
    case 'run':
      return run(file, factories);
    default:
      process.stderr.write(`unknown command "${line.command}"\n${USAGE}\n`);
      return 2;
  }
}

async function run(file: string, factories: readonly AnyFactory[]): Promise<number> {
  let config: PodflowConfig;
  try {
    config = await loadConfigFile(file, factories);
  } catch (err) {
    process.stderr.write(`${errorText(err)}\n`);
    return 1;
  }
  redactor.add(config.secrets);
  const [{ Service }, { createLogger }] = await Promise.all([import('./pipeline/service.ts'), import('./telemetry/logger.ts')]);
  const { level, encoding } = config.service.telemetry.logs;
  const logger: Logger = createLogger(level, encoding, (text) => redactor.redact(text));
  // Node would print a crash's stack as it is; through the logger it is redacted like any line.
  process.on('uncaughtException', (err) => {
    logger.fatal({ err: err.stack ?? String(err) }, 'podflow crashed');
    process.exit(1);
  });
  let service: Service = new Service(config, logger);
  // One signal handled at a time: a reload never overlaps a shutdown. The stop signals are
  // handled from before start, so that one arriving while components start (right after the
  // "podflow started" line, say) stops the process cleanly once they have.
  let busy: Promise<unknown> = Promise.resolve();
  const serial = (task: () => Promise<unknown>) => (busy = busy.then(task, task));
  let exit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (exit = resolve));
  const stop = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    void serial(async () => {
      await service.shutdown();
      exit(0);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  const started = service.start();
  busy = started.catch(() => undefined);
  try {
    await started;
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'podflow could not start');
    return 1;
  }

  const reload = async () => {
    let next: PodflowConfig;
    try {
      next = await loadConfigFile(file, factories);
    } catch (err) {
      logger.error({ err: errorText(err), file }, 'reload rejected: keeping the running pipelines');
      return;
    }
    redactor.add(next.secrets);
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

  process.on('SIGHUP', () => void serial(reload));
  return exited;
}

/** Sets the exit code and makes sure timers of stopped components cannot keep the process alive. */
export function exitWith(result: Promise<number>): void {
  result.then(
    (code) => {
      process.exitCode = code;
      setTimeout(() => process.exit(code), 200).unref();
    },
    (err: Error) => {
      process.stderr.write(`podflow: ${redactor.redact(err.stack ?? err.message)}\n`);
      process.exit(1);
    },
  );
}
