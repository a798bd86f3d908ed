import test from 'ava';
import { addressPrefix, cidrBlockList, cidrError, cidrSchema, parseCidr } from './cidr.ts';

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
