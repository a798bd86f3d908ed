import test from 'ava';
import { netcostConfigSchema } from './config.ts';
import { netcostFactory } from './index.ts';
import { classPrices, gigabyteOf } from './pricer.ts';
import { COST_CLASSES, knownRegions, PROVIDER_TABLES } from './prices.ts';

const issue = (input: unknown) => {
  const r = netcostConfigSchema.safeParse(input);
  return r.success ? '' : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
};

test('defaults', (t) => {
  t.deepEqual(netcostConfigSchema.parse({ provider: 'aws', region: 'us-east-1' }), {
    provider: 'aws', region: 'us-east-1', rates: {}, cluster_cidrs: [], nat_gateway: [], private_link: [], vpc_peering: [],
  });
});

test('bad input is refused with its place', (t) => {
  t.regex(issue({}), /^provider: provider is one of aws, gcp, azure, custom/);
  t.regex(issue({ provider: 'oracle' }), /^provider: provider is one of aws, gcp, azure, custom/);
  t.regex(issue({ provider: 'aws' }), /^region: region is required for provider aws; the regions with a price table are us-east-1, /);
  t.regex(issue({ provider: 'gcp', region: 'us-east-1' }), /^region: unknown region "us-east-1" for provider gcp; the regions with a price table are us-central1, /);
  t.regex(issue({ provider: 'aws', region: 'us-east-1', rates: { inter_zone: -0.01 } }), /^rates\.inter_zone: a rate is USD per GB, 0 or more \(got -0\.01\)/);
  t.regex(issue({ provider: 'aws', region: 'us-east-1', rates: { inter_zone: '0.01' } }), /^rates\.inter_zone: a rate is a number of USD per GB/);
  t.regex(issue({ provider: 'aws', region: 'us-east-1', rates: { inter_zone: Number.NaN } }), /^rates\.inter_zone: /);
  t.regex(issue({ provider: 'aws', region: 'us-east-1', rates: { inter_zone: 0.0000000001 } }), /^rates\.inter_zone: a rate has at most 9 decimals/);
  t.regex(issue({ provider: 'aws', region: 'us-east-1', rates: { cross_zone: 0.01 } }), /^rates\.cross_zone: unknown cost class "cross_zone"; the classes are same_node, intra_zone, /);
  t.regex(issue({ provider: 'custom' }), /^rates: provider custom needs rates/);
  t.regex(issue({ provider: 'custom', rates: { internet_egress: 0.05 } }), /^rates: provider custom needs rates\.unknown or rates\.inter_zone/);
  t.regex(issue({ provider: 'custom', rates: { inter_zone: 0.01 }, nat_gateway: ['nat'] }), /^nat_gateway\.0: "nat" is not a CIDR: .* \(or a single address\)/);
  t.regex(issue({ provider: 'custom', rates: { inter_zone: 0.01 }, cluster_cidrs: ['10.0.0.1'] }), /^cluster_cidrs\.0: "10\.0\.0\.1" is not a CIDR/);
  t.regex(issue({ provider: 'custom', rates: { inter_zone: 0.01 }, gigabyte: 'kibi' }), /^gigabyte: /);
  t.regex(issue({ provider: 'custom', rates: { inter_zone: 0.01 }, rate: 1 }), /Unrecognized key: "rate"/);
  t.is(issue({ provider: 'custom', rates: { unknown: 0 } }), '', 'unknown: 0 says it on purpose');
  t.is(issue({ provider: 'azure', region: 'westeurope', nat_gateway: ['10.0.0.7', '203.0.113.0/24'] }), '');
});

test('rates override the provider table; unknown follows inter_zone unless given', (t) => {
  const aws = classPrices(netcostConfigSchema.parse({ provider: 'aws', region: 'eu-central-1' }));
  const rate = (prices: typeof aws, c: (typeof COST_CLASSES)[number]) => prices[COST_CLASSES.indexOf(c)]!;
  t.is(rate(aws, 'inter_zone').usdPerGb, 0.01);
  t.deepEqual(rate(aws, 'inter_zone').billing, { tx: 2, rx: 2 }, 'AWS bills cross-AZ bytes on both sides');
  t.is(rate(aws, 'nat_gateway').usdPerGb, 0.052);
  t.is(rate(aws, 'unknown').usdPerGb, 0.01);
  t.deepEqual(rate(aws, 'internet_ingress'), { usdPerGb: 0.09, billing: { tx: 0, rx: 1 } });
  t.is(rate(aws, 'same_node').usdPerGb, 0);

  const overridden = classPrices(netcostConfigSchema.parse({ provider: 'aws', region: 'eu-central-1', rates: { inter_zone: 0.02, nat_gateway: 0.1 } }));
  t.is(rate(overridden, 'inter_zone').usdPerGb, 0.02);
  t.is(rate(overridden, 'unknown').usdPerGb, 0.02);
  t.is(rate(overridden, 'nat_gateway').usdPerGb, 0.1);
  t.is(rate(overridden, 'inter_region').usdPerGb, 0.02);

  const ownUnknown = classPrices(netcostConfigSchema.parse({ provider: 'gcp', region: 'us-central1', rates: { unknown: 0.05 } }));
  t.is(rate(ownUnknown, 'unknown').usdPerGb, 0.05);
  t.deepEqual(rate(ownUnknown, 'inter_zone').billing, { tx: 1, rx: 1 }, 'Google bills egress at the source only');

  const custom = netcostConfigSchema.parse({ provider: 'custom', rates: { inter_zone: 0.015 } });
  t.is(gigabyteOf(custom), 'decimal');
  t.true(classPrices(custom).every((p) => p.billing.tx === 1 && p.billing.rx === 1), 'custom: (tx + rx) × rate');
  t.is(rate(classPrices(custom), 'internet_egress').usdPerGb, 0);
  t.is(gigabyteOf(netcostConfigSchema.parse({ provider: 'azure', region: 'eastus' })), 'binary');
  t.is(gigabyteOf(netcostConfigSchema.parse({ provider: 'azure', region: 'eastus', gigabyte: 'decimal' })), 'decimal');
});

test('every shipped rate is representable (nano-USD per GB) and every region prices every class', (t) => {
  for (const provider of Object.keys(PROVIDER_TABLES) as Array<keyof typeof PROVIDER_TABLES>) {
    for (const region of knownRegions(provider)) {
      const config = netcostConfigSchema.parse({ provider, region });
      t.is(classPrices(config).length, COST_CLASSES.length);
      t.true(classPrices(config)[COST_CLASSES.indexOf('internet_egress')]!.usdPerGb > 0, `${provider} ${region}`);
    }
  }
});

test('a processor factory (registered: src/components.test.ts)', (t) => {
  t.true(netcostFactory.kind === 'processor' && netcostFactory.type === 'netcost');
});

test('podflow validate names the place of a bad netcost key (key path and line:col)', async (t) => {
  const { execFile } = await import('node:child_process');
  const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'podflow-netcost-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'config.yaml');
  await writeFile(config, [
    'receivers:',
    '  conntrack: {}',
    'processors:',
    '  netcost:',
    '    provider: aws',
    '    region: us-east-1',
    '    rates:',
    '      inter_zone: -0.01',
    '      cross_zone: 0.02',
    'exporters:',
    '  debug: {}',
    'service:',
    '  pipelines:',
    '    flows: {receivers: [conntrack], processors: [netcost], exporters: [debug]}',
    '',
  ].join('\n'));
  const bin = new URL('../../../bin/podflow', import.meta.url).pathname;
  const result = await new Promise<{ code: number | null; out: string }>((resolve) => {
    execFile(bin, ['validate', '--config', config], (error, stdout, stderr) => resolve({ code: error ? (error as { code?: number }).code ?? 1 : 0, out: stdout + stderr }));
  });
  t.not(result.code, 0);
  t.regex(result.out, /config\.yaml:8:7: processors\.netcost\.rates\.inter_zone: a rate is USD per GB, 0 or more \(got -0\.01\)/);
  t.regex(result.out, /config\.yaml:9:7: processors\.netcost\.rates\.cross_zone: unknown cost class "cross_zone"/);
});

test('the README\'s example config is a valid netcost config', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const { parse } = await import('yaml');
  const readme = await readFile(new URL('./README.md', import.meta.url), 'utf8');
  const example = parse(/```yaml\n([\s\S]*?)```/.exec(readme)![1]!) as { processors: { netcost: unknown } };
  const parsed = netcostConfigSchema.parse(example.processors.netcost);
  t.is(parsed.provider, 'aws');
  t.deepEqual(parsed.nat_gateway, ['52.4.0.0/24']);
});
