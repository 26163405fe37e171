/**
 * The probe agent: a tiny program run *inside* one sandbox namespace (`ip netns exec NS node
 * agent.js`), because a Node process cannot move its own sockets between namespaces. It reads
 * probes as JSON on stdin, sends each as the first packet of a new flow from the given source
 * address and port (a UDP datagram on a connected socket, or a TCP SYN via connect()), and
 * writes one outcome per probe as JSON on stdout:
 *
 * - `answered`: a reply came back (UDP datagram, or the TCP handshake completed);
 * - `refused`: ECONNREFUSED: an ICMP port unreachable (REJECT, or a host with no listener) or a
 *   TCP reset;
 * - `unreachable`: EHOSTUNREACH / ENETUNREACH;
 * - `timeout`: nothing came back within the probe's timeout (a DROP, or a black hole);
 * - `error`: the probe could not be sent (e.g. EADDRNOTAVAIL), with the code.
 *
 * Time is bounded: every probe has its own timeout and the agent exits when all are done, or at
 * once when the run that started it ends (its lifeline closes, lifeline.ts).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { dieWithParent } from './lifeline.js';

export interface AgentProbe {
  readonly id: number;
  readonly proto: 'tcp' | 'udp';
  readonly src: string;
  readonly sport: number;
  readonly dst: string;
  readonly dport: number;
}

export interface AgentRequest {
  readonly probes: readonly AgentProbe[];
  readonly timeoutMs: number;
  readonly concurrency: number;
}

export type AgentOutcomeKind = 'answered' | 'refused' | 'unreachable' | 'timeout' | 'error';

export interface AgentOutcome {
  readonly id: number;
  readonly outcome: AgentOutcomeKind;
  readonly code?: string;
}

function classify(code: string | undefined): AgentOutcomeKind {
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET') return 'refused';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'unreachable';
  return 'error';
}

/**
 * Declares a timeout only after the event loop has delivered whatever I/O was already waiting:
 * a starved agent (a loaded machine) wakes with the timer and the socket's answer both due, and
 * timers run before the poll phase that reports the answer; setImmediate runs after it. Without
 * this, an ICMP port unreachable that arrived in time read as silence (a DROP).
 */
function timedOut(declare: () => void): void {
  setImmediate(declare);
}

function udpProbe(p: AgentProbe, timeoutMs: number): Promise<AgentOutcome> {
  return new Promise((resolve) => {
    const s = dgram.createSocket({ type: 'udp4' });
    let done = false;
    const finish = (o: AgentOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        s.close();
      } catch {
        // closed already
      }
      resolve(o);
    };
    const timer = setTimeout(() => timedOut(() => finish({ id: p.id, outcome: 'timeout' })), timeoutMs);
    s.on('error', (e: NodeJS.ErrnoException) => finish({ id: p.id, outcome: classify(e.code), ...(e.code ? { code: e.code } : {}) }));
    s.on('message', () => finish({ id: p.id, outcome: 'answered' }));
    s.bind({ address: p.src, port: p.sport, exclusive: true }, () => {
      // Connect failures arrive as 'error' events.
      s.connect(p.dport, p.dst, () => {
        s.send(Buffer.from(`kdp verify probe ${p.id}`), (e) => {
          const code = (e as NodeJS.ErrnoException | null)?.code;
          // EPERM: a rule in OUTPUT dropped the host's own packet. A REJECT then also delivers
          // an ICMP port unreachable to this socket (ECONNREFUSED); a DROP stays silent.
          if (e && code !== 'EPERM') finish({ id: p.id, outcome: classify(code), code: code ?? 'send' });
        });
      });
    });
  });
}

function tcpProbe(p: AgentProbe, timeoutMs: number): Promise<AgentOutcome> {
  return new Promise((resolve) => {
    let done = false;
    const c = net.connect({ host: p.dst, port: p.dport, localAddress: p.src, localPort: p.sport });
    const finish = (o: AgentOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      c.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => timedOut(() => finish({ id: p.id, outcome: 'timeout' })), timeoutMs);
    c.on('connect', () => finish({ id: p.id, outcome: 'answered' }));
    c.on('error', (e: NodeJS.ErrnoException) => finish({ id: p.id, outcome: classify(e.code), ...(e.code ? { code: e.code } : {}) }));
  });
}

export async function runAgent(req: AgentRequest): Promise<AgentOutcome[]> {
  const out: AgentOutcome[] = new Array(req.probes.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < req.probes.length) {
      const i = next++;
      const p = req.probes[i];
      out[i] = await (p.proto === 'udp' ? udpProbe(p, req.timeoutMs) : tcpProbe(p, req.timeoutMs));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(req.concurrency, req.probes.length)) }, worker));
  return out;
}

async function main(): Promise<void> {
  dieWithParent();
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const req = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AgentRequest;
  const out = await runAgent(req);
  process.stdout.write(JSON.stringify(out));
}

// Run as a program (not when imported for its types).
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`kdp verify agent: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
