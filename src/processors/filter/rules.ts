// Compiles filter rules into predicates over a flow's attributes.
import { isIP } from 'node:net';
import { cidrBlockList } from '../../model/cidr.ts';
import type { Attributes } from '../../model/index.ts';
import type { FilterCondition, FilterRule } from './config.ts';

export type Predicate = (attributes: Attributes) => boolean;

/** Past this many distinct addresses a CIDR rule's cache starts over (bounded memory). */
const CIDR_CACHE_LIMIT = 65_536;

function cidrPredicate(key: string, cidrs: readonly string[]): Predicate {
  const list = cidrBlockList(cidrs);
  let cache = new Map<string, boolean>();
  return (attributes) => {
    const address = attributes[key];
    if (typeof address !== 'string') return false;
    let hit = cache.get(address);
    if (hit === undefined) {
      const family = isIP(address);
      hit = family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
      if (cache.size >= CIDR_CACHE_LIMIT) cache = new Map();
      cache.set(address, hit);
    }
    return hit;
  };
}

/**
 * One condition. Values compare by their text, so `value: 53` matches port 53 and "53", and
 * `value: true` matches true and "true". An absent attribute matches only `exists: false`.
 */
export function compileCondition(condition: FilterCondition): Predicate {
  const key = condition.key!;
  if (condition.exists !== undefined) {
    const exists = condition.exists;
    return (attributes) => (attributes[key] !== undefined) === exists;
  }
  if (condition.cidr !== undefined) {
    return cidrPredicate(key, typeof condition.cidr === 'string' ? [condition.cidr] : condition.cidr);
  }
  if (condition.regex !== undefined) {
    const regex = new RegExp(condition.regex);
    return (attributes) => {
      const value = attributes[key];
      return value !== undefined && regex.test(typeof value === 'string' ? value : String(value));
    };
  }
  const wanted = new Set((condition.values ?? [condition.value!]).map(String));
  if (wanted.size === 1) {
    const only = [...wanted][0]!;
    return (attributes) => {
      const value = attributes[key];
      return value !== undefined && (value === only || String(value) === only);
    };
  }
  return (attributes) => {
    const value = attributes[key];
    return value !== undefined && wanted.has(typeof value === 'string' ? value : String(value));
  };
}

export function compileRule(rule: FilterRule): Predicate {
  if (rule.all === undefined) return compileCondition(rule);
  const parts = rule.all.map(compileCondition);
  return (attributes) => parts.every((p) => p(attributes));
}

/** Whether any rule of the list matches; undefined for an empty list. */
export function compileAny(rules: readonly FilterRule[]): Predicate | undefined {
  if (rules.length === 0) return undefined;
  const parts = rules.map(compileRule);
  if (parts.length === 1) return parts[0];
  return (attributes) => parts.some((p) => p(attributes));
}
