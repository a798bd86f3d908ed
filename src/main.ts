// The process entry behind bin/podflow.
import { exitWith, main } from './cli.ts';
import { FACTORIES } from './components.ts';

exitWith(main(process.argv.slice(2), FACTORIES));
