// The billing classes, and each provider's public list prices and billing rules for them.
// README.md gives every table with its source and the date it was recorded; change both together.

export const COST_CLASSES = [
  'same_node', 'intra_zone', 'inter_zone', 'inter_region', 'internet_egress', 'internet_ingress',
  'nat_gateway', 'private_link', 'vpc_peering', 'unknown',
] as const;
export type CostClass = (typeof COST_CLASSES)[number];

export const PROVIDERS = ['aws', 'gcp', 'azure', 'custom'] as const;
export type Provider = (typeof PROVIDERS)[number];

/** What a GB is: 10^9 bytes or 2^30 bytes. */
export type Gigabyte = 'decimal' | 'binary';

/**
 * Which bytes of a flow are billed: `tx × tx + rx × rx` bytes at the class's rate. 2 where both
 * sides pay for the same byte (AWS cross-AZ: out of one zone and into the other), 0 where a
 * direction is free (internet ingress).
 */
export interface Billing {
  tx: 0 | 1 | 2;
  rx: 0 | 1 | 2;
}

/** USD per GB for the classes a region's table prices; the others are 0 or derived (ratesFor). */
interface RegionPrices {
  inter_zone: number;
  inter_region: number;
  internet_egress: number;
  nat_gateway: number;
  private_link: number;
  vpc_peering: number;
}

interface ProviderTable {
  gigabyte: Gigabyte;
  billing: Record<CostClass, Billing>;
  regions: Record<string, RegionPrices>;
}

const BOTH: Billing = { tx: 1, rx: 1 };
const BOTH_SIDES: Billing = { tx: 2, rx: 2 };

/** Sender pays for what leaves: every byte of the flow once (the common rule). */
function billing(overrides: Partial<Record<CostClass, Billing>>): Record<CostClass, Billing> {
  const rules = Object.fromEntries(COST_CLASSES.map((c) => [c, BOTH])) as Record<CostClass, Billing>;
  // The internet classes: only bytes leaving to the internet are billed. internet_ingress flows
  // were opened from outside, so what leaves is their responses (rx).
  rules.internet_egress = { tx: 1, rx: 0 };
  rules.internet_ingress = { tx: 0, rx: 1 };
  return { ...rules, ...overrides };
}

function prices(inter_zone: number, inter_region: number, internet_egress: number, nat_gateway: number, private_link: number, vpc_peering: number): RegionPrices {
  return { inter_zone, inter_region, internet_egress, nat_gateway, private_link, vpc_peering };
}

export const PROVIDER_TABLES: Record<Exclude<Provider, 'custom'>, ProviderTable> = {
  // AWS bills cross-AZ and VPC-peering bytes "in each direction": out of the sender's zone and
  // into the receiver's, $0.01 each. Inter-region and internet: out only. NAT gateway and
  // PrivateLink: every byte processed, both directions.
  aws: {
    gigabyte: 'binary',
    billing: billing({ inter_zone: BOTH_SIDES, vpc_peering: BOTH_SIDES, unknown: BOTH_SIDES }),
    regions: {
      'us-east-1': prices(0.01, 0.02, 0.09, 0.045, 0.01, 0.01),
      'us-east-2': prices(0.01, 0.02, 0.09, 0.045, 0.01, 0.01),
      'us-west-2': prices(0.01, 0.02, 0.09, 0.045, 0.01, 0.01),
      'eu-west-1': prices(0.01, 0.02, 0.09, 0.048, 0.01, 0.01),
      'eu-central-1': prices(0.01, 0.02, 0.09, 0.052, 0.01, 0.01),
      'ap-southeast-1': prices(0.01, 0.09, 0.12, 0.059, 0.01, 0.01),
      'ap-northeast-1': prices(0.01, 0.09, 0.114, 0.062, 0.01, 0.01),
    },
  },
  // Google Cloud: egress is charged at the source, so each direction once. Cloud NAT and
  // Private Service Connect process both directions. Internet: Premium Tier, first tier.
  gcp: {
    gigabyte: 'binary',
    billing: billing({}),
    regions: {
      'us-central1': prices(0.01, 0.02, 0.12, 0.045, 0.01, 0.01),
      'us-east1': prices(0.01, 0.02, 0.12, 0.045, 0.01, 0.01),
      'us-west1': prices(0.01, 0.02, 0.12, 0.045, 0.01, 0.01),
      'europe-west1': prices(0.01, 0.02, 0.12, 0.045, 0.01, 0.01),
      'europe-west4': prices(0.01, 0.02, 0.12, 0.045, 0.01, 0.01),
      'asia-east1': prices(0.01, 0.05, 0.12, 0.045, 0.01, 0.01),
      'asia-southeast1': prices(0.01, 0.05, 0.12, 0.045, 0.01, 0.01),
    },
  },
  // Azure: no charge between availability zones; VNet peering is charged for ingress and egress at
  // both ends; Private Link per GB in and out; internet egress over Microsoft's network, first
  // paid tier (the first 100 GB a month are free: not modelled).
  azure: {
    gigabyte: 'binary',
    billing: billing({ vpc_peering: BOTH_SIDES }),
    regions: {
      eastus: prices(0, 0.02, 0.087, 0.045, 0.01, 0.01),
      eastus2: prices(0, 0.02, 0.087, 0.045, 0.01, 0.01),
      westus2: prices(0, 0.02, 0.087, 0.045, 0.01, 0.01),
      westeurope: prices(0, 0.02, 0.087, 0.045, 0.01, 0.01),
      northeurope: prices(0, 0.02, 0.087, 0.045, 0.01, 0.01),
      southeastasia: prices(0, 0.08, 0.12, 0.045, 0.01, 0.01),
      japaneast: prices(0, 0.08, 0.12, 0.045, 0.01, 0.01),
    },
  },
};

/** `custom`: (tx + rx) × rate for every class, GB = 10^9 bytes unless configured. */
export const CUSTOM_BILLING: Record<CostClass, Billing> = Object.fromEntries(COST_CLASSES.map((c) => [c, BOTH])) as Record<CostClass, Billing>;

/** The known regions of a provider (for the error message). */
export function knownRegions(provider: Exclude<Provider, 'custom'>): string[] {
  return Object.keys(PROVIDER_TABLES[provider].regions);
}

/**
 * A region's rate for every class in USD per GB. same_node and intra_zone are free everywhere;
 * internet_ingress is billed at the egress price (its billed bytes are the ones that leave);
 * unknown is priced like inter_zone, so a flow whose zone is missing is never free by default.
 */
export function tableRates(provider: Exclude<Provider, 'custom'>, region: string): Record<CostClass, number> | undefined {
  const p = PROVIDER_TABLES[provider].regions[region];
  if (!p) return undefined;
  return {
    same_node: 0, intra_zone: 0, inter_zone: p.inter_zone, inter_region: p.inter_region,
    internet_egress: p.internet_egress, internet_ingress: p.internet_egress,
    nat_gateway: p.nat_gateway, private_link: p.private_link, vpc_peering: p.vpc_peering, unknown: p.inter_zone,
  };
}
