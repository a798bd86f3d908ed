import test from 'ava';
import fc from 'fast-check';
import { addressPrefix, CidrSet, cidrBlockList, cidrError, cidrOrAddressSchema, cidrSchema, hostCidr, parseCidr } from './cidr.ts';

test('cidrError: undefined for CIDRs, one message format for everything else', (t) => {
  t.is(cidrError('10.0.0.0/8'), undefined);
  t.is(cidrError('fd00::/8'), undefined);
  t.is(cidrError('0.0.0.0/0'), undefined);
  t.is(cidrError('::/0'), undefined);
  t.is(cidrError('10.0.0.0/33'), '"10.0.0.0/33" is not a CIDR: prefix longer than the address (/32 at most for IPv4)');
  t.is(cidrError('fd00::/129'), '"fd00::/129" is not a CIDR: prefix longer than the address (/128 at most for IPv6)');
  for (const bad of ['banana', '10.0.0.0', '10.0.0/8', '10.0.0.0/', '/8', '10.0.0.0/8/8', '10.0.0.256/8', '10.0.0.0/1000', 'fd00::g/8', ''])
    t.is(cidrError(bad), `"${bad}" is not a CIDR: expected address/prefix, e.g. 10.0.0.0/8 or fd00::/8`, bad);
});

test('parseCidr gives network, prefix length and family; throws with the same message', (t) => {
  t.deepEqual(parseCidr('10.1.0.0/16'), { network: '10.1.0.0', prefixLength: 16, family: 'ipv4' });
  t.deepEqual(parseCidr('fd00:1::/64'), { network: 'fd00:1::', prefixLength: 64, family: 'ipv6' });
  t.throws(() => parseCidr('pods'), { message: cidrError('pods') });
});

test('the zod schema reports the same message at the key', (t) => {
  const r = cidrSchema.array().safeParse(['10.0.0.0/8', '10.0.0.0/40']);
  t.false(r.success);
  t.deepEqual(r.error!.issues.map((i) => [i.path.join('.'), i.message]), [['1', cidrError('10.0.0.0/40')]]);
  t.true(cidrSchema.safeParse('fd00::/8').success);
});

test('cidrBlockList matches addresses inside the ranges, both families', (t) => {
  const list = cidrBlockList(['10.1.0.0/16', 'fd00:1::/64']);
  t.true(list.check('10.1.200.3', 'ipv4'));
  t.false(list.check('10.2.0.1', 'ipv4'));
  t.true(list.check('fd00:1::42', 'ipv6'));
  t.false(list.check('fd00:2::1', 'ipv6'));
  t.throws(() => cidrBlockList(['10.0.0.0/8', 'nope']), { message: cidrError('nope') });
});

test('addressPrefix: the network at a prefix length, the address itself at full length, mapped IPv4 as IPv4', (t) => {
  const cases: Array<[string, number, number, string | undefined]> = [
    ['104.16.3.9', 24, 48, '104.16.3.0/24'],
    ['104.16.3.9', 32, 48, '104.16.3.9'],
    ['104.16.3.9', 0, 48, '0.0.0.0/0'],
    ['104.16.3.9', 16, 48, '104.16.0.0/16'],
    ['2606:4700:10::6814:1f', 24, 48, '2606:4700:10::/48'],
    ['2606:4700:10::6814:1f', 24, 128, '2606:4700:10::6814:1f'],
    ['2606:4700:10::6814:1f', 24, 64, '2606:4700:10::/64'],
    ['::ffff:104.16.3.9', 24, 48, '104.16.3.0/24'],
    ['not an address', 24, 48, undefined],
    ['104.16.3.0/24', 24, 48, undefined],
  ];
  for (const [address, v4, v6, expected] of cases) t.is(addressPrefix(address, v4, v6), expected, `${address} /${v4} /${v6}`);
});

test('hostCidr and cidrOrAddressSchema: a bare address is the range of that one address', (t) => {
  t.is(hostCidr('10.0.0.7'), '10.0.0.7/32');
  t.is(hostCidr('fd00::7'), 'fd00::7/128');
  t.is(hostCidr('10.0.0.0/8'), '10.0.0.0/8');
  t.true(cidrBlockList([hostCidr('10.0.0.7')]).check('10.0.0.7', 'ipv4'));
  t.false(cidrBlockList([hostCidr('10.0.0.7')]).check('10.0.0.8', 'ipv4'));
  t.true(cidrOrAddressSchema.safeParse('10.0.0.7').success);
  t.true(cidrOrAddressSchema.safeParse('10.0.0.0/8').success);
  const r = cidrOrAddressSchema.array().safeParse(['10.0.0.7', 'gateway']);
  t.deepEqual(r.error!.issues.map((i) => [i.path.join('.'), i.message]), [['1', `${cidrError('gateway')} (or a single address)`]]);
});

test('CidrSet agrees with BlockList on both families, CIDRs and single addresses', (t) => {
  const ranges = ['10.1.0.0/16', '0.0.0.0/32', '192.168.7.9', '100.64.0.0/10', 'fd00:1::/64', '2001:db8::5', '255.255.255.255/32'];
  const set = new CidrSet(ranges);
  const list = cidrBlockList(ranges.map(hostCidr));
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
  const near = fc.constantFrom('10.1.255.255', '10.2.0.0', '10.0.255.255', '192.168.7.9', '192.168.7.10', '100.127.255.255', '100.128.0.0', '0.0.0.0', '255.255.255.255', 'fd00:1::42', 'fd00:2::1', '2001:db8::5', '2001:db8::6');
  fc.assert(fc.property(fc.oneof(v4, near), (address) => set.has(address) === list.check(address, address.includes(':') ? 'ipv6' : 'ipv4')));
  for (const bad of ['', '10.1.0', '10.1.0.0.0', '10.1.0.256', 'a.b.c.d', '10..1.0', 'example.com']) t.false(set.has(bad), bad);
  t.true(new CidrSet(['0.0.0.0/0']).has('203.0.113.7'));
  t.false(new CidrSet([]).has('10.1.0.1'));
});
