// The filter processor's configuration: `include` and `exclude` lists of attribute rules.
import { z } from 'zod';
import { cidrSchema } from '../../model/cidr.ts';

const MATCHERS = ['value', 'values', 'regex', 'cidr', 'exists'] as const;
const scalar = z.union([z.string(), z.number(), z.boolean()]);

const conditionShape = {
  key: z.string().min(1, 'an attribute key cannot be empty').optional(),
  value: scalar.optional(),
  values: z.array(scalar).min(1, 'values needs at least one value').optional(),
  regex: z.string().optional(),
  cidr: z.union([cidrSchema, z.array(cidrSchema).min(1, 'cidr needs at least one CIDR')]).optional(),
  exists: z.boolean().optional(),
};

type Condition = { [K in keyof typeof conditionShape]?: z.infer<(typeof conditionShape)[K]> };

/** Checks one condition; `path` is where it sits, for the error. */
function checkCondition(condition: Condition, ctx: z.RefinementCtx, path: (string | number)[]): void {
  const present = MATCHERS.filter((m) => condition[m] !== undefined);
  if (condition.key === undefined) {
    ctx.addIssue({ code: 'custom', path, message: `a rule needs "key" and one of ${MATCHERS.join(', ')} (or "all": [rules])` });
    return;
  }
  if (present.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      path,
      message: present.length === 0
        ? `rule on "${condition.key}" needs one of ${MATCHERS.join(', ')}`
        : `rule on "${condition.key}" has ${present.join(' and ')}; give exactly one (use "all" to combine)`,
    });
  }
  if (condition.regex !== undefined) {
    try {
      new RegExp(condition.regex);
    } catch (error) {
      ctx.addIssue({ code: 'custom', path: [...path, 'regex'], message: `not a valid regular expression: ${(error as Error).message}` });
    }
  }
  if (condition.cidr !== undefined) {
    if (!condition.key.endsWith('.address')) {
      ctx.addIssue({ code: 'custom', path: [...path, 'cidr'], message: `cidr applies to address keys (source.address, destination.address, ...), not "${condition.key}"` });
    }
  }
}

const conditionSchema = z.strictObject(conditionShape).superRefine((c, ctx) => checkCondition(c, ctx, []));

/** A single condition, or `all: [conditions]` that must all match. */
const ruleSchema = z
  .strictObject({ ...conditionShape, all: z.array(conditionSchema).min(1, 'all needs at least one rule').optional() })
  .superRefine((rule, ctx) => {
    if (rule.all === undefined) return checkCondition(rule, ctx, []);
    const extra = Object.keys(rule).filter((k) => k !== 'all' && rule[k as keyof typeof rule] !== undefined);
    if (extra.length > 0) ctx.addIssue({ code: 'custom', message: `a rule with "all" has no other keys (found ${extra.join(', ')})` });
  });

export const filterConfigSchema = z.strictObject({
  /** Keep a flow only if it matches at least one of these; empty: keep every flow. */
  include: z.array(ruleSchema).default([]),
  /** Then drop a flow that matches any of these. */
  exclude: z.array(ruleSchema).default([]),
});

export type FilterConfig = z.infer<typeof filterConfigSchema>;
export type FilterRule = FilterConfig['include'][number];
export type FilterCondition = z.infer<typeof conditionSchema>;
