import test from 'ava';
import { AddressClassifier } from './address.ts';

const table: Array<[string, 'loopback' | 'private' | 'public']> = [
  ['127.0.0.1', 'loopback'], ['::1', 'loopback'],
  ['10.1.2.3', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'], ['172.32.0.1', 'public'],
  ['192.168.1.1', 'private'], ['100.64.0.1', 'private'], ['100.127.255.254', 'private'], ['100.128.0.1', 'public'],
  ['169.254.169.254', 'private'], ['fd00::1', 'private'], ['fe80::1', 'private'], ['2001:db8::1', 'private'],
  ['8.8.8.8', 'public'], ['1.1.1.1', 'public'], ['2606:4700::1111', 'public'], ['::ffff:10.0.0.1', 'private'],
];

for (const [address, expected] of table) {
  test(`${address} is ${expected}`, (t) => {
    t.is(new AddressClassifier().classify(address), expected);
  });
}

test('cluster CIDRs are not public', (t) => {
  const c = new AddressClassifier(['34.118.224.0/20']);
  t.is(c.classify('34.118.230.5'), 'private');
  t.is(new AddressClassifier().classify('34.118.230.5'), 'public');
});
