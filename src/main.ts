// The process entry behind bin/podflow. `--version`, `version` and `help` are answered before
// anything else is loaded; the config, the components and the pipeline are imported only for
// the commands that use them.
import { answerWithoutLoading } from './command-line.ts';

const argv = process.argv.slice(2);
const answered = answerWithoutLoading(argv);
if (answered !== undefined) {
  process.exitCode = answered;
} else {
  const [{ exitWith, main }, { FACTORIES }] = await Promise.all([import('./cli.ts'), import('./components.ts')]);
  exitWith(main(argv, FACTORIES));
}
