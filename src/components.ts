// Every component type podflow knows. Adding a component: a folder under receivers/, processors/
// or exporters/ with its factory in index.ts, and one line here.
import type { AnyFactory } from './pipeline/component.ts';

export const FACTORIES: readonly AnyFactory[] = [
];
