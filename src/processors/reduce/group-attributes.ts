// Makes the attribute map of an emitted group from its slot values: the slot keys in slot order,
// leaving out the slots a group has no value for.
//
// Why compiled: an interval can emit 100,000s of groups. Adding ~16 keys one by one to `{}` grows
// the object's property store step by step and sends each store through a megamorphic inline
// cache; a function holding an object literal with constant keys, one per set of present slots,
// allocates the map at its final size and shape.
import type { Attributes } from '../../model/index.ts';
import type { SlotValue } from './group-key.ts';

type Make = (v: readonly SlotValue[]) => Attributes;

/** Sets of present slots compiled; past it (or with more slots than a mask holds), assignment. */
export const MAX_COMPILED_PRESENCE_SETS = 1_024;
const MASK_SLOTS = 30;

export class GroupAttributes {
  readonly #slotKeys: readonly string[];
  readonly #compiled = new Map<number, Make>();

  constructor(slotKeys: readonly string[]) {
    this.#slotKeys = slotKeys;
  }

  make(values: readonly SlotValue[]): Attributes {
    const keys = this.#slotKeys;
    if (keys.length > MASK_SLOTS) return assign(keys, values);
    let mask = 0;
    for (let j = 0; j < keys.length; j++) if (values[j] !== undefined) mask |= 1 << j;
    let make = this.#compiled.get(mask);
    if (make === undefined) {
      if (this.#compiled.size >= MAX_COMPILED_PRESENCE_SETS) return assign(keys, values);
      make = compile(keys, mask);
      this.#compiled.set(mask, make);
    }
    return make(values);
  }
}

/**
 * `return {<slot key>: v[<slot>], …}` for the slots in `mask`. Keys are embedded with
 * JSON.stringify, so no configured group_by key can break out of its string literal;
 * `__proto__` is a computed key, which defines a property instead of setting the prototype.
 */
function compile(keys: readonly string[], mask: number): Make {
  const entries: string[] = [];
  for (let j = 0; j < keys.length; j++) {
    if ((mask & (1 << j)) === 0) continue;
    const key = JSON.stringify(keys[j]);
    entries.push(`${keys[j] === '__proto__' ? `[${key}]` : key}: v[${j}]`);
  }
  return new Function('v', `return {\n${entries.join(',\n')}\n};`) as Make;
}

/** The same result by assignment. */
function assign(keys: readonly string[], values: readonly SlotValue[]): Attributes {
  const attributes: Attributes = {};
  for (let j = 0; j < keys.length; j++) {
    const value = values[j];
    if (value !== undefined) attributes[keys[j]!] = value;
  }
  return attributes;
}
