import test from 'ava';
import { AddressMap, ipv4Key, NOT_IPV4 } from './address-map.ts';

test('canonical IPv4 addresses are keyed by value; every other string by itself', (t) => {
  t.is(ipv4Key('10.1.2.3'), (10 << 24) | (1 << 16) | (2 << 8) | 3);
  t.is(ipv4Key('255.255.255.255'), -1);
  t.is(ipv4Key('0.0.0.0'), 0);
  for (const other of ['10.01.2.3', '010.1.2.3', '10.1.2', '10.1.2.3.4', '10.1.2.256', '10.1.2.3 ', '1.2.3.', '.1.2.3', '10..2.3', 'fd00::1', '::ffff:10.1.2.3', '10.1.2.3|8080/tcp', '', '1234.1.1.1']) {
    t.is(ipv4Key(other), NOT_IPV4, other);
  }
});

test('an AddressMap finds what a Map of the same strings finds', (t) => {
  const keys = ['10.1.2.3', '10.1.2.30', '192.168.0.1', '255.255.255.255', '0.0.0.0', 'fd00::1', '10.1.2.3|8080/tcp', '10.01.2.3'];
  const map = new AddressMap<number>();
  keys.forEach((k, i) => map.set(k, i));
  t.is(map.size, keys.length);
  keys.forEach((k, i) => t.is(map.get(`${k}`), i, k));
  t.is(map.get('10.1.2.4'), undefined);
  t.is(map.get('10.1.2.03'), undefined, 'a non-canonical form is another key, as in a Map');
  t.true(map.delete('192.168.0.1'));
  t.false(map.delete('192.168.0.1'));
  t.is(map.get('192.168.0.1'), undefined);
  t.true(map.delete('fd00::1'));
  t.is(map.size, keys.length - 2);
});

test('clear empties both kinds of keys', (t) => {
  const map = new AddressMap<number>().set('10.1.2.3', 1).set('fd00::1', 2);
  map.clear();
  t.is(map.size, 0);
  t.is(map.get('10.1.2.3'), undefined);
  t.is(map.get('fd00::1'), undefined);
  map.set('10.1.2.3', 3);
  t.is(map.get('10.1.2.3'), 3);
});
