/**
 * The kernel baseline's sender: run inside the client namespace (`ip netns exec NS node
 * flood.js JSON`), it opens `flows` UDP sockets on distinct source ports (each one a new
 * conntrack flow), then times the loop that sends one datagram from each. libuv sends at once
 * when a socket's queue is empty, and a veth hands the packet to the receive path in the same
 * system call's softirq, so the loop's time is the kernel's per-packet work (routing, conntrack,
 * the NAT rules, forwarding) plus a constant syscall cost that the empty-ruleset baseline
 * measures. Prints {"ns": total nanoseconds, "flows": n}.
 */
import dgram from 'node:dgram';
import { dieWithParent } from './lifeline.js';

interface FloodRequest {
  readonly src: string;
  readonly firstPort: number;
  readonly flows: number;
  readonly dst: string;
  readonly dport: number;
}

async function main(): Promise<void> {
  dieWithParent();
  const req = JSON.parse(process.argv[2] ?? '{}') as FloodRequest;
  const batch = 500;
  const payload = Buffer.alloc(64);
  let total = 0n;
  for (let start = 0; start < req.flows; start += batch) {
    const n = Math.min(batch, req.flows - start);
    const socks: dgram.Socket[] = [];
    await Promise.all(
      Array.from({ length: n }, (_, i) => {
        const s = dgram.createSocket('udp4');
        s.on('error', () => undefined);
        socks.push(s);
        return new Promise<void>((resolve) => s.bind({ address: req.src, port: req.firstPort + start + i, exclusive: true }, () => s.connect(req.dport, req.dst, () => resolve())));
      }),
    );
    const t0 = process.hrtime.bigint();
    for (const s of socks) s.send(payload);
    total += process.hrtime.bigint() - t0;
    await new Promise((r) => setTimeout(r, 20));
    for (const s of socks) s.close();
  }
  process.stdout.write(JSON.stringify({ ns: Number(total), flows: req.flows }));
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`kdp flood: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
