/**
 * The endpoints' side: run inside an endpoint namespace (`ip netns exec NS node responder.js
 * '{"tcp":[8080],"udp":[53]}'`), it listens on every endpoint port on all of the namespace's
 * addresses, accepts TCP connections and echoes UDP datagrams, until SIGTERM or until the run that
 * started it ends (its lifeline closes, lifeline.ts).
 *
 * Why it exists: a TCP SYN answered only by a reset makes the kernel delete the flow's conntrack
 * entry at once, which would hide the DNAT the node did. With a listener the handshake
 * completes, the entry stays, and the client sees its flow answered.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { dieWithParent } from './lifeline.js';

interface Ports {
  readonly tcp: readonly number[];
  readonly udp: readonly number[];
}

function main(): void {
  dieWithParent();
  const ports = JSON.parse(process.argv[2] ?? '{"tcp":[],"udp":[]}') as Ports;
  const closers: (() => void)[] = [];
  for (const port of ports.tcp) {
    const server = net.createServer((sock) => {
      sock.on('error', () => undefined);
      sock.end();
    });
    server.on('error', (e) => process.stderr.write(`responder: tcp ${port}: ${e.message}\n`));
    server.listen({ port, host: '0.0.0.0', backlog: 4096 });
    closers.push(() => server.close());
  }
  for (const port of ports.udp) {
    const s = dgram.createSocket('udp4');
    s.on('error', (e) => process.stderr.write(`responder: udp ${port}: ${e.message}\n`));
    s.on('message', (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address));
    s.bind({ port, address: '0.0.0.0' });
    closers.push(() => s.close());
  }
  const stop = (): void => {
    for (const c of closers) c();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  setInterval(() => undefined, 1 << 30);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) main();
