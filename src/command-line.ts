// The command line of bin/podflow: its options, the usage text, and the answers that need
// nothing loaded (`--version`, `version`, `help`). It imports only Node's own modules, so
// src/main.ts answers those in a few milliseconds, before the config or the pipeline is loaded.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

export const USAGE = `usage: podflow <command> [--config FILE]

commands:
  run         run the pipelines of --config (default ./config.yaml)
  validate    check --config: prints every error and exits 1, or prints warnings and "ok"
  components  list the receiver, processor and exporter types
  version     print the version (also --version, -v)
  help        print this text (also --help, -h)`;

export interface CommandLine {
  /** `run`, `validate`, ...; undefined when none was given. */
  command: string | undefined;
  config: string;
  help: boolean;
  version: boolean;
}

/** The parsed arguments, or an Error for unknown options. */
export function parseCommandLine(argv: readonly string[]): CommandLine | Error {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c', default: 'config.yaml' },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
    });
    return { command: positionals[0], config: values.config, help: values.help, version: values.version };
  } catch (err) {
    return err as Error;
  }
}

export function version(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/**
 * Answers the commands that need no config (usage errors, help, version) and returns the exit
 * code; undefined when the command needs the rest of the program.
 */
export function answerWithoutLoading(argv: readonly string[]): number | undefined {
  const line = parseCommandLine(argv);
  if (line instanceof Error) {
    process.stderr.write(`${line.message}\n${USAGE}\n`);
    return 2;
  }
  if (line.version || line.command === 'version') {
    process.stdout.write(`podflow ${version()}\n`);
    return 0;
  }
  if (line.help || line.command === undefined || line.command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return line.command === undefined && !line.help ? 2 : 0;
  }
  return undefined;
}
