// Attribute maps built by a function compiled per list of keys, holding one object literal with
// constant keys: V8 allocates the map at its final size with one shape, where adding keys one by
// one to `{}` grows the property store step by step through a megamorphic inline cache. Used
// where 100,000s of maps are made per interval (the otlp receiver's decoder, reduce's groups).
import type { Attributes } from './flow.ts';

/** Makes `{[key]: v[slot], …}` from the values of one list. */
export type AttributesLiteral<V> = (v: readonly V[]) => Attributes;

/**
 * `return {<key>: v[<slot>], …}` for `entries` in order. Keys are embedded with JSON.stringify,
 * so no key can break out of its string literal; `__proto__` is a computed key, which defines a
 * property instead of setting the prototype.
 */
export function compileAttributesLiteral<V>(entries: ReadonlyArray<readonly [key: string, slot: number]>): AttributesLiteral<V> {
  const props = entries.map(([key, slot]) => `${key === '__proto__' ? `[${JSON.stringify(key)}]` : JSON.stringify(key)}: v[${slot}]`);
  return new Function('v', `return {\n${props.join(',\n')}\n};`) as AttributesLiteral<V>;
}
