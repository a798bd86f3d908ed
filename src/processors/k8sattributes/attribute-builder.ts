// Makes a flow's enriched attribute map: the flow's own attributes, then the source end's, then
// the destination end's (EndInfo), then `destination.k8s.service.name`, `network.flow.inter_zone`
// and `k8s.node.name` (the reporting node of a batch received from an agent) when known. The map is ONE new object per flow, made by a function
// compiled once per combination of key lists and holding an object literal with constant keys.
//
// Why: adding ~20 keys to the receiver's small object one by one grows its property store step
// by step (a copy every few keys, most of the garbage of a tick) and sends every store through
// an inline cache that sees many object shapes (pod, node, public ends; with or without a
// pre-DNAT address), which V8 handles in its slow megamorphic path. A literal is allocated at its
// final size with its final shape. At 262,144 flows this was two thirds of the processor's CPU.
//
// The result is what assigning the keys in that order would give: a key the flow already has
// keeps its place and takes the new value (duplicate keys in a literal behave like that too).
import type { Attributes, AttributeValue } from '../../model/index.ts';
import { DESTINATION_K8S_SERVICE_NAME, K8S_NODE_NAME, NETWORK_FLOW_INTER_ZONE } from '../../model/index.ts';
import type { EndInfo } from './end-info.ts';

type Build = (a: Attributes, s: AttributeValue[] | undefined, d: AttributeValue[] | undefined, service: string | undefined, interZone: boolean | undefined, reporter: string | undefined) => Attributes;

/** Compiled functions kept per flow key list; past it, flows are enriched by assignment (same result, slower). */
export const MAX_BUILDERS_PER_SHAPE = 4_096;
/** Flow key lists kept; past it, the same fallback. */
export const MAX_INPUT_SHAPES = 256;

const SERVICE = 1;
const INTER_ZONE = 2;
const REPORTER = 4;
const FLAG_SLOTS = 8;

interface InputShape {
  keys: string[];
  /** [source key list id + 1][(destination key list id + 1) * FLAG_SLOTS + flags]; id + 1 = 0: that end is absent. */
  builders: Build[][];
  count: number;
}

export class AttributeBuilder {
  readonly #shapes = new Map<string, InputShape>();
  /** The last key list seen, and the one before it (flows with and without a pre-DNAT address alternate). */
  #last: InputShape | undefined;
  #previous: InputShape | undefined;

  build(a: Attributes, src: EndInfo | undefined, dst: EndInfo | undefined, service: string | undefined, interZone: boolean | undefined, reporter?: string): Attributes {
    const shape = this.#shape(a);
    if (shape === undefined) return assign(a, src, dst, service, interZone, reporter);
    const s = src === undefined ? 0 : src.keyListId + 1;
    const flags = (service === undefined ? 0 : SERVICE) | (interZone === undefined ? 0 : INTER_ZONE) | (reporter === undefined ? 0 : REPORTER);
    const slot = (dst === undefined ? 0 : dst.keyListId + 1) * FLAG_SLOTS + flags;
    let bySource = shape.builders[s];
    if (bySource === undefined) bySource = shape.builders[s] = [];
    let build = bySource[slot];
    if (build === undefined) {
      if (shape.count >= MAX_BUILDERS_PER_SHAPE) return assign(a, src, dst, service, interZone, reporter);
      build = bySource[slot] = compile(shape.keys, src?.sourceKeys ?? [], dst?.destinationKeys ?? [], flags);
      shape.count++;
    }
    return build(a, src?.values, dst?.values, service, interZone, reporter);
  }

  /** The flow's key list (consecutive flows almost always have one of the last two). */
  #shape(a: Attributes): InputShape | undefined {
    const last = this.#last;
    if (last !== undefined && hasExactly(a, last.keys)) return last;
    const previous = this.#previous;
    if (previous !== undefined && hasExactly(a, previous.keys)) {
      this.#previous = last;
      this.#last = previous;
      return previous;
    }
    const keys = Object.keys(a);
    const signature = keys.join('\n');
    let shape = this.#shapes.get(signature);
    if (shape === undefined) {
      if (this.#shapes.size >= MAX_INPUT_SHAPES) return undefined;
      shape = { keys, builders: [], count: 0 };
      this.#shapes.set(signature, shape);
    }
    this.#previous = last;
    this.#last = shape;
    return shape;
  }
}

/**
 * Whether `a`'s keys are exactly `keys`, in order. A for-in walk allocates nothing (Object.keys
 * makes an array per flow). It lists the own keys in Object.keys order first, then any inherited
 * enumerable one, which makes the answer false: never a wrong match.
 */
function hasExactly(a: Attributes, keys: readonly string[]): boolean {
  let i = 0;
  for (const key in a) {
    if (key !== keys[i]) return false;
    i++;
  }
  return i === keys.length;
}

/**
 * `return {<flow key>: a[<flow key>], …, <source key>: s[i], …, <destination key>: d[i], …}`.
 * Keys are embedded with JSON.stringify, so no key (a configured label name, an attribute an
 * agent sent) can break out of its string literal; `__proto__` is written as a computed key,
 * which defines a property instead of setting the prototype.
 */
function compile(flowKeys: readonly string[], sourceKeys: readonly string[], destinationKeys: readonly string[], flags: number): Build {
  const entry = (key: string, value: string) => `${key === '__proto__' ? `[${JSON.stringify(key)}]` : JSON.stringify(key)}: ${value}`;
  const entries = [
    ...flowKeys.map((k) => entry(k, `a[${JSON.stringify(k)}]`)),
    ...sourceKeys.map((k, i) => entry(k, `s[${i}]`)),
    ...destinationKeys.map((k, i) => entry(k, `d[${i}]`)),
  ];
  if (flags & SERVICE) entries.push(entry(DESTINATION_K8S_SERVICE_NAME, 'service'));
  if (flags & INTER_ZONE) entries.push(entry(NETWORK_FLOW_INTER_ZONE, 'interZone'));
  if (flags & REPORTER) entries.push(entry(K8S_NODE_NAME, 'reporter'));
  return new Function('a', 's', 'd', 'service', 'interZone', 'reporter', `return {\n${entries.join(',\n')}\n};`) as Build;
}

/** The same result by assignment into a copy (beyond the compiled functions' bounds). */
function assign(a: Attributes, src: EndInfo | undefined, dst: EndInfo | undefined, service: string | undefined, interZone: boolean | undefined, reporter: string | undefined): Attributes {
  const out: Attributes = { ...a };
  if (src) for (let i = 0; i < src.sourceKeys.length; i++) out[src.sourceKeys[i]!] = src.values[i]!;
  if (dst) for (let i = 0; i < dst.destinationKeys.length; i++) out[dst.destinationKeys[i]!] = dst.values[i]!;
  if (service !== undefined) out[DESTINATION_K8S_SERVICE_NAME] = service;
  if (interZone !== undefined) out[NETWORK_FLOW_INTER_ZONE] = interZone;
  if (reporter !== undefined) out[K8S_NODE_NAME] = reporter;
  return out;
}
