// Makes the attribute map of an emitted group from its slot values: the slot keys in slot order,
// leaving out the slots a group has no value for.
// Compiled once per set of present slots (model/attributes-literal.ts): an interval can emit
// 100,000s of groups.
import type { Attributes } from '../../model/index.ts';
import { compileAttributesLiteral, type AttributesLiteral } from '../../model/attributes-literal.ts';
import type { SlotValue } from './group-key.ts';

type Make = AttributesLiteral<SlotValue>;

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

/** The literal of the slots in `mask`. */
function compile(keys: readonly string[], mask: number): Make {
  const entries: Array<[string, number]> = [];
  for (let j = 0; j < keys.length; j++) if ((mask & (1 << j)) !== 0) entries.push([keys[j]!, j]);
  return compileAttributesLiteral(entries);
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
