// Configuration of the netcost processor: every key, its default, and what validate refuses.
import { z } from 'zod';
import { cidrOrAddressSchema, cidrSchema } from '../../model/cidr.ts';
import { COST_CLASSES, type CostClass, knownRegions, PROVIDERS } from './prices.ts';

/** Rates are kept as integer nano-USD per GB, so a rate may have 9 decimals at most. */
export const NANO_USD_PER_USD = 1e9;

/** `usdPerGb` as integer nano-USD per GB, or undefined when it has more than 9 decimals. */
export function nanoUsdPerGb(usdPerGb: number): number | undefined {
  const nano = Math.round(usdPerGb * NANO_USD_PER_USD);
  // A decimal with ≤ 9 decimals times 10^9 lands within a few ulps of an integer.
  return Math.abs(nano - usdPerGb * NANO_USD_PER_USD) <= 1e-6 * Math.max(1, nano) && Number.isSafeInteger(nano) ? nano : undefined;
}

const rateSchema = z.number({ error: 'a rate is a number of USD per GB (e.g. 0.01)' }).superRefine((rate, ctx) => {
  if (!Number.isFinite(rate) || rate < 0) ctx.addIssue({ code: 'custom', message: `a rate is USD per GB, 0 or more (got ${rate})` });
  else if (nanoUsdPerGb(rate) === undefined) ctx.addIssue({ code: 'custom', message: `a rate has at most 9 decimals (nano-USD per GB) and at most ${Number.MAX_SAFE_INTEGER / NANO_USD_PER_USD} USD per GB (got ${rate})` });
});

export const netcostConfigSchema = z
  .strictObject({
    /** Whose price table and billing rules: aws, gcp, azure, or custom (only `rates`). Required. */
    provider: z.enum(PROVIDERS, { error: `provider is one of ${PROVIDERS.join(', ')}` }),
    /** The cluster's region, one of the provider's table (README); unused with `custom`. */
    region: z.string().default(''),
    /** USD per GB by class; overrides the provider's table. Required with `custom`. */
    rates: z.record(z.string(), rateSchema).default({}),
    /** What a GB is: `binary` (2^30 bytes) or `decimal` (10^9). Default: the provider's (custom: decimal). */
    gigabyte: z.enum(['decimal', 'binary']).optional(),
    /** Pod and service ranges, as k8sattributes' cluster_cidrs: ends here are in the cluster. */
    cluster_cidrs: z.array(cidrSchema).default([]),
    /** NAT gateways: flows to these ranges or addresses are `nat_gateway`. */
    nat_gateway: z.array(cidrOrAddressSchema).default([]),
    /** PrivateLink / Private Service Connect endpoints: flows to these are `private_link`. */
    private_link: z.array(cidrOrAddressSchema).default([]),
    /** Peered networks: flows to these are `vpc_peering`. */
    vpc_peering: z.array(cidrOrAddressSchema).default([]),
  })
  .superRefine((config, ctx) => {
    for (const name of Object.keys(config.rates)) {
      if (!(COST_CLASSES as readonly string[]).includes(name)) {
        ctx.addIssue({ code: 'custom', path: ['rates', name], message: `unknown cost class "${name}"; the classes are ${COST_CLASSES.join(', ')}` });
      }
    }
    if (config.provider === 'custom') {
      if (Object.keys(config.rates).length === 0) {
        ctx.addIssue({ code: 'custom', path: ['rates'], message: 'provider custom needs rates: {<class>: <USD per GB>}' });
      } else if (config.rates.unknown === undefined && config.rates.inter_zone === undefined) {
        ctx.addIssue({ code: 'custom', path: ['rates'], message: 'provider custom needs rates.unknown or rates.inter_zone: flows whose zone is missing are never priced as free by default (give unknown: 0 to mean it)' });
      }
      return;
    }
    const regions = knownRegions(config.provider);
    if (!regions.includes(config.region)) {
      ctx.addIssue({
        code: 'custom',
        path: ['region'],
        message: `${config.region === '' ? 'region is required' : `unknown region "${config.region}"`} for provider ${config.provider}; the regions with a price table are ${regions.join(', ')} (or use provider: custom with rates)`,
      });
    }
  });

export type NetcostConfig = z.infer<typeof netcostConfigSchema>;
export type ClassRates = Partial<Record<CostClass, number>>;
