// A DNS client for netns tests, run inside a namespace by test/harness/dns.ts:
//   node dns-client.ts <server> <name> <A|AAAA> <udp|tcp> [timeoutMs]
// UDP goes through Node's dns.Resolver pointed at <server> (no /etc/resolv.conf involved);
// TCP sends one length-prefixed query by hand (RFC 1035 §4.2.2). Prints {"addresses":[...]}
// (empty for NXDOMAIN / no data / refused); exits 1 when the server does not answer.
import { Resolver } from 'node:dns/promises';
import { connect } from 'node:net';

const [server, name, type, transport, timeout] = process.argv.slice(2) as [string, string, 'A' | 'AAAA', 'udp' | 'tcp', string?];
const timeoutMs = Number(timeout ?? 3000);
const print = (addresses: string[]) => process.stdout.write(`${JSON.stringify({ addresses })}\n`);

function query(id: number): Buffer {
  const labels = name.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const header = Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, type === 'A' ? 1 : 28, 0, 1])]);
}

function skipName(m: Buffer, at: number): number {
  while (m[at]! !== 0) {
    if ((m[at]! & 0xc0) === 0xc0) return at + 2;
    at += m[at]! + 1;
  }
  return at + 1;
}

function answers(m: Buffer): string[] {
  const count = m.readUInt16BE(6);
  let at = skipName(m, 12) + 4;
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    at = skipName(m, at);
    const rtype = m.readUInt16BE(at);
    const len = m.readUInt16BE(at + 8);
    const rdata = m.subarray(at + 10, at + 10 + len);
    if (rtype === 1 && len === 4) out.push([...rdata].join('.'));
    if (rtype === 28 && len === 16) {
      const groups: string[] = [];
      for (let g = 0; g < 8; g++) groups.push(rdata.readUInt16BE(g * 2).toString(16));
      // The URL parser prints IPv6 in its canonical compressed form.
      out.push(new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1));
    }
    at += 10 + len;
  }
  return out;
}

const timer = setTimeout(() => {
  console.error(`no answer from ${server} within ${timeoutMs}ms`);
  process.exit(1);
}, timeoutMs);

if (transport === 'udp') {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  resolver.setServers([server]);
  try {
    print(type === 'A' ? await resolver.resolve4(name) : await resolver.resolve6(name));
  } catch (e) {
    const code = (e as { code?: string }).code;
    // An answer without addresses (NXDOMAIN, no data, refused) is still an answer.
    if (!['ENOTFOUND', 'ENODATA', 'EREFUSED', 'ESERVFAIL', 'ENOTIMP'].includes(code ?? '')) throw e;
    print([]);
  }
  clearTimeout(timer);
} else {
  const q = query(0x4242);
  const sock = connect({ host: server, port: 53 }, () => {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(q.length);
    sock.write(Buffer.concat([len, q]));
  });
  let buf = Buffer.alloc(0);
  sock.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      print(answers(buf.subarray(2, 2 + buf.readUInt16BE(0))));
      clearTimeout(timer);
      sock.end();
    }
  });
  sock.on('error', (e) => {
    console.error(e.message);
    process.exit(1);
  });
}
