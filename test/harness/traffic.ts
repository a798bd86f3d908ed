// Traffic endpoints for netns tests, run inside a namespace by test/harness/netns.ts
// (`node test/harness/traffic.ts <mode> ...`). Each prints one JSON line when done.
//
//   tcp-server <port>                  dual-stack; per connection reads "<download>\n" + upload
//                                      bytes until the client half-closes, then sends <download>
//                                      bytes and closes. Prints {"listening":port} once ready.
//   tcp-client <host> <port> <up> <down>   sends <up> bytes, receives <down>, prints {"sent","received"}
//   udp-server <port>                  echoes every datagram back. Prints {"listening":port}.
//   udp-client <host> <port> <count> <size>  sends <count> datagrams of <size> bytes, one at a time,
//                                      each waiting for its echo; prints {"echoed":n}
import { createServer, connect } from 'node:net';
import { createSocket } from 'node:dgram';

const [mode, ...args] = process.argv.slice(2);
const print = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

if (mode === 'tcp-server') {
  const server = createServer((sock) => {
    let header = '';
    let download = -1;
    sock.on('data', (chunk: Buffer) => {
      if (download >= 0) return;
      header += chunk.toString('latin1');
      const nl = header.indexOf('\n');
      if (nl >= 0) download = Number(header.slice(0, nl));
    });
    sock.on('end', () => sock.end(Buffer.alloc(Math.max(download, 0), 0x61)));
    sock.on('error', () => {});
  });
  server.listen({ port: Number(args[0]), host: '::', ipv6Only: false }, () => print({ listening: Number(args[0]) }));
} else if (mode === 'tcp-client') {
  const [host, port, up, down] = args;
  let received = 0;
  const sock = connect({ host: host!, port: Number(port) }, () => {
    sock.write(`${down}\n`);
    sock.end(Buffer.alloc(Number(up), 0x62));
  });
  sock.on('data', (c: Buffer) => (received += c.length));
  sock.on('close', () => print({ sent: Number(up), received }));
  sock.on('error', (e) => {
    console.error(e.message);
    process.exit(1);
  });
} else if (mode === 'udp-server') {
  const sock = createSocket({ type: 'udp6', ipv6Only: false });
  sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
  sock.bind(Number(args[0]), '::', () => print({ listening: Number(args[0]) }));
} else if (mode === 'udp-client') {
  const [host, port, count, size] = args;
  const sock = createSocket(host!.includes(':') ? 'udp6' : 'udp4');
  let echoed = 0;
  const send = () => sock.send(Buffer.alloc(Number(size), 0x63), Number(port), host);
  sock.on('message', () => {
    echoed++;
    if (echoed === Number(count)) {
      print({ echoed });
      sock.close();
    } else send();
  });
  setTimeout(() => {
    console.error(`udp-client: only ${echoed}/${count} echoes`);
    process.exit(1);
  }, 5000).unref();
  send();
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
