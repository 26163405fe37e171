import { createInterface } from 'node:readline';
import { createReadStream } from 'node:fs';
import { modeNames, modeOf } from '../compile/index.js';
import { nodeStateFormats } from '../compile/node-state.js';
import { runNodeStateTrace } from './trace-node.js';
import { CompiledCluster } from '../dataplane/compiled-cluster.js';
import { PipelineContext } from '../dataplane/context.js';
import { resolveProbe } from '../dataplane/resolve.js';
import { tracePacket, type TraceResult } from '../dataplane/trace.js';
import type { TraceHop } from '../dataplane/trace-recorder.js';
import { EngineError, UsageError } from '../errors.js';
import { tracePcapng } from '../dataplane/trace-pcapng.js';
import { parseIp } from '../net/ipv4.js';
import type { Cluster, Pod } from '../model/types.js';
import { traceLookup, type LookupTrace } from '../dataplane/dns-lookup.js';
import { choiceOption, clipTokens, EXIT_FAILED, EXIT_INVALID, EXIT_OK, parse, type Command } from './command.js';
import { requireCluster } from './cluster-file.js';
import { writeOutput } from './output.js';

const help = `Usage: kdp trace FILE --src ADDR[:PORT] --dst ADDR:PORT [options]
       kdp trace FILE --batch PROBES.jsonl
       kdp trace --node-state DIR|FILE[:FORMAT]... [FILE] --src ADDR[:PORT] --dst ADDR:PORT [options]

Runs one packet through the cluster the way the benchmark does (same pipeline, same compiled
rules) and tells its path hop by hop: conntrack, the proxy mode's decision, routing, masquerade,
overlay encapsulation, the other node, delivery.

Addresses: ADDR[:PORT], pod/NAMESPACE/NAME (needs Pod objects), svc/NAMESPACE/NAME[:PORTNAME].
--dst may also be a DNS name, NAME:PORT (web.shop:80, web.shop.svc.cluster.local.:80), from a
pod source: the pod's resolver looks it up first (kubelet's resolv.conf, glibc's search order),
each query a real UDP DNS packet traced to a CoreDNS endpoint of kube-dns and back, and the
connection then goes to the address the answer gave (see kdp resolve for the records).
A pod address enters from its veth; a node's address (or loopback) is that node's host network
(OUTPUT); any other address is an external client arriving at --node (default: the node owning
the destination, else the first node). The source port defaults to 40000.

Options:
  --src ADDR          source                                                [required]
  --dst ADDR:PORT     destination                                           [required]
  --proto P           tcp | udp | sctp                                      [default: tcp]
  --node NAME         where the packet enters
  --mode M            ${modeNames().join(' | ')}     [default: the file's KubeProxyConfiguration]
  --reply             also trace the answer back through conntrack
  --json              one JSON object (fields: mode, node, packet, decision, service,
                      candidates, endpoint, masquerade, verdict, dropReason, policy
                      {egress, ingress: {verdict, policy, rule}}, hops; with a name, also
                      dns: [{qname, qtype, rcode, answers, server, sourcePort, deliveredTo,
                      truncated, why, hops}])
  --pcap OUT          write the packet as it looks at every hop: pcapng, one interface per
                      device the packet crossed (pod eth0, veth/cali, cbr0, vxlan.calico,
                      tunl0, node eth0), each packet's hop as its comment
  --batch FILE        one probe per line, {"proto":"tcp","src":"10.0.0.2:40000","dst":"172.30.0.41:80","node":"n1"};
                      one JSON result per line out, in the same order (- reads standard input)
  --seed S            seed of every random choice (statistic, numgen, schedulers) [default: 1]
  --node-state PATH   trace through the rules read from a real node instead (repeatable): its
                      iptables-save (with or without -c), ipset save, or any format a mode reads
                      (${nodeStateFormats().join(', ')}), detected from the text or named as PATH:FORMAT;
                      a directory gives all its files, - reads standard input. With a cluster
                      FILE, DNAT targets are named as endpoints of its Services (--node: the node
                      the files came from). decision may also be "unknown": a rule kdp cannot
                      evaluate met the packet, named with its line in "unknownAt".
  --from WHERE        with --node-state: pod | host | outside (default: from the cluster file, else
                      outside, or host for a 127.0.0.0/8 source)
  --iif/--oif NAME    with --node-state: the packet's interfaces, for -i/-o rules of other owners
  -h, --help          this text

Exit status: 0 when the packet was traced (whatever happened to it); 1 the name did not resolve
(the queries are still shown; JSON: mode, name, address null, dns); 2 bad usage, an invalid
cluster file, a probe that names nothing in the cluster, or --pcap names a directory; 3 a file
cannot be read or written (permissions, a read-only or full disk).
`;

export const traceCommand: Command = {
  name: 'trace',
  summary: 'explain one packet hop by hop (or a batch of probes as JSON lines)',
  help,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      src: { type: 'string' },
      dst: { type: 'string' },
      proto: { type: 'string' },
      node: { type: 'string' },
      mode: { type: 'string' },
      reply: { type: 'boolean' },
      json: { type: 'boolean' },
      pcap: { type: 'string' },
      batch: { type: 'string' },
      seed: { type: 'string' },
      'node-state': { type: 'string', multiple: true },
      from: { type: 'string' },
      iif: { type: 'string' },
      oif: { type: 'string' },
    });
    const nodeState = values['node-state'];
    if (nodeState) {
      if (positionals.length > 1) throw new UsageError('give at most one cluster file beside --node-state');
      if (!values.src || !values.dst) throw new UsageError('--src and --dst are required');
      if (values.batch || values.pcap || values.reply || values.mode) throw new UsageError('--batch, --pcap, --reply and --mode trace a cluster, not --node-state');
      const seed = values.seed === undefined ? 1 : Number(values.seed);
      if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new UsageError(`--seed takes a whole number, not "${values.seed}"`);
      return runNodeStateTrace({
        nodeState, cluster: positionals[0], src: values.src, dst: values.dst, proto: values.proto, node: values.node, from: values.from,
        iif: values.iif, oif: values.oif, json: values.json ?? false, seed,
      });
    }
    if (values.from || values.iif || values.oif) throw new UsageError('--from, --iif and --oif go with --node-state');
    if (positionals.length !== 1) throw new UsageError('give one cluster file');
    const named = values.mode === undefined ? undefined : choiceOption(values.mode, 'mode', modeNames(), '');
    const seed = values.seed === undefined ? 1 : Number(values.seed);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new UsageError(`--seed takes a whole number, not "${values.seed}"`);
    if (!values.batch && (!values.src || !values.dst)) throw new UsageError('--src and --dst are required (or --batch FILE)');
    const cluster = await requireCluster(positionals[0], true);
    if (!cluster) return EXIT_INVALID;
    const mode = named ?? modeOf(cluster).name;
    const compiled = new CompiledCluster(cluster, mode);

    if (values.batch) return runBatchFile(compiled, seed, values.batch);

    const ctx = new PipelineContext(compiled, { seed });
    const capture = values.pcap !== undefined;
    let dst = values.dst!;
    const host = dnsName(dst);
    let lookup: LookupTrace | undefined;
    if (host) {
      lookup = traceLookup(ctx, lookupPod(cluster, values.src!), host.name, { capture });
      const address = lookup.resolution.report.address;
      if (address === null || parseIp(address) < 0) {
        if (values.pcap) await writeOutput(values.pcap, [tracePcapng(lookupHops(lookup), lookup.frames)]);
        process.stdout.write(values.json ? `${JSON.stringify({ mode, name: host.name, address: null, dns: lookup.dns }, null, 2)}\n` : renderLookup(host.name, lookup));
        return EXIT_FAILED;
      }
      dst = `${address}:${host.port}`;
    }
    let probe;
    try {
      probe = resolveProbe(cluster, compiled.plan, { src: values.src!, dst, proto: values.proto, node: values.node });
    } catch (err) {
      if (err instanceof EngineError) throw new UsageError(err.message);
      throw err;
    }
    const traced = tracePacket(ctx, probe, { reply: values.reply ?? false, capture });
    const result = lookup ? { ...traced.result, dns: lookup.dns } : traced.result;
    // One hop list for the file: the lookup's exchanges, then the packet and its reply.
    const dnsHops = lookup ? lookupHops(lookup) : [];
    const hops = [...dnsHops, ...traced.result.hops, ...(traced.result.reply?.hops ?? [])];
    const frames = [...(lookup?.frames ?? []), ...traced.frames.map((f) => ({ ...f, hop: f.hop + dnsHops.length }))];
    // What the mode's agent would log while programming the nodes the packet crossed (a full BPF map).
    for (const dp of compiled.dataplanes()) for (const w of dp.warnings ?? []) process.stderr.write(`kdp trace: warning: ${w}\n`);
    if (values.pcap) await writeOutput(values.pcap, [tracePcapng(hops, frames)]);
    const text = (lookup && host ? renderLookup(host.name, lookup) + '\n' : '') + renderTrace(traced.result, probe.entryReason);
    process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : text);
    if (values.pcap && !values.json) process.stdout.write(`pcap: ${frames.length} packets written to ${values.pcap}\n`);
    return EXIT_OK;
  },
};

/** `NAME:PORT` when --dst names a host by DNS name rather than an address, pod or Service. */
function dnsName(dst: string): { name: string; port: number } | undefined {
  if (dst.startsWith('pod/') || dst.startsWith('svc/')) return undefined;
  const colon = dst.lastIndexOf(':');
  const host = colon < 0 ? dst : dst.slice(0, colon);
  if (parseIp(host) >= 0 || !/[A-Za-z_]/.test(host)) return undefined;
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(host)) throw new UsageError(`destination "${dst}": "${host}" is not a DNS name`);
  const port = Number(dst.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`destination "${dst}" needs a port 1-65535 (NAME:PORT)`);
  return { name: host, port };
}

/** The pod whose resolver looks a name up: --src as pod/NS/NAME or a Pod object's address. */
function lookupPod(cluster: Cluster, src: string): Pod {
  const ip = parseIp(src.replace(/:\d+$/, ''));
  const pod = src.startsWith('pod/') ? cluster.pods.find((p) => `pod/${p.namespace}/${p.name}` === src.replace(/:\d+$/, '')) : cluster.pods.find((p) => p.ip === ip);
  if (!pod) throw new UsageError(`--src ${src}: a DNS name is looked up by a pod's resolver, so --src must be pod/NAMESPACE/NAME or the address of a Pod in the file`);
  if (pod.node < 0) throw new UsageError(`--src ${src}: pod ${pod.namespace}/${pod.name} is on no node kdp knows`);
  return pod;
}

function renderLookup(name: string, lookup: LookupTrace): string {
  const r = lookup.resolution;
  let out = `lookup of ${name} from ${r.report.from}: nameserver ${r.nameserver ?? 'none'}, search ${r.resolvConf.searches.join(' ') || '(none)'}, ndots ${r.resolvConf.ndots}\n`;
  for (const q of lookup.dns) {
    const answer = q.rcode === null ? `no answer: ${q.why}` : `${q.rcode}${q.answers.length ? ` ${q.answers.map((a) => `${a.type} ${a.data}`).join(', ')}` : ''}${q.truncated ? ' (truncated: retried over TCP, not traced)' : ''}`;
    out += `query ${q.qtype} ${q.qname} from port ${q.sourcePort} to ${q.server}${q.deliveredTo ? `, delivered to ${q.deliveredTo}` : ''}: ${answer}\n`;
    q.hops.forEach((h, k) => (out += hopLine(h, k + 1)));
  }
  out += `address: ${r.report.address ?? 'none'}\n`;
  return out;
}

/** Every hop of a lookup's exchanges in turn, as its frames count them. */
function lookupHops(lookup: LookupTrace): TraceHop[] {
  return lookup.dns.flatMap((q) => q.hops);
}

async function runBatchFile(compiled: CompiledCluster, seed: number, file: string): Promise<number> {
  const input = file === '-' ? process.stdin : createReadStream(file);
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  let bad = 0;
  try {
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      let out: unknown;
      try {
        const p = readProbeLine(line);
        const probe = resolveProbe(compiled.cluster, compiled.plan, p);
        out = tracePacket(new PipelineContext(compiled, { seed }), probe, { reply: p.reply }).result;
      } catch (err) {
        // Only kdp's own errors describe the input; anything else is a bug in kdp, not the line's.
        if (!(err instanceof EngineError)) throw err;
        bad++;
        out = { line: lineNo, error: clipTokens(err.message) };
      }
      if (!process.stdout.write(`${JSON.stringify(out)}\n`)) await new Promise((r) => process.stdout.once('drain', r));
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(e.code === 'ENOENT' ? `no such file: ${file}` : `cannot read ${file}: ${e.message}`);
  }
  if (bad > 0) process.stderr.write(`kdp trace: ${bad} of ${lineNo} probes could not be traced (see their "error" lines)\n`);
  return bad > 0 ? EXIT_INVALID : EXIT_OK;
}

interface ProbeLine {
  readonly src: string;
  readonly dst: string;
  readonly proto?: string;
  readonly node?: string;
  readonly reply: boolean;
}

const kProbeFields: Readonly<Record<string, 'string' | 'boolean'>> = { src: 'string', dst: 'string', proto: 'string', node: 'string', reply: 'boolean' };

/** One --batch line as a probe, or a UsageError naming the field (never a JavaScript error about the value). */
function readProbeLine(line: string): ProbeLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw new UsageError(`not valid JSON (${(err as Error).message}); a probe line is an object such as {"src":"10.244.1.5","dst":"10.96.0.10:80"}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`a probe line is a JSON object such as {"src":"10.244.1.5","dst":"10.96.0.10:80"}, not ${Array.isArray(value) ? 'a list' : value === null ? 'null' : `a ${typeof value}`}`);
  }
  const p = value as Record<string, unknown>;
  for (const [key, v] of Object.entries(p)) {
    const want = kProbeFields[key];
    if (!Object.hasOwn(kProbeFields, key)) throw new UsageError(`unknown field "${key}"; a probe has ${Object.keys(kProbeFields).join(', ')}`);
    if (typeof v !== want) throw new UsageError(`"${key}" must be a ${want}, not ${v === null ? 'null' : Array.isArray(v) ? 'a list' : `a ${typeof v}`}`);
  }
  if (p.src === undefined || p.dst === undefined) throw new UsageError('"src" and "dst" are required');
  return {
    src: p.src as string,
    dst: p.dst as string,
    ...(p.proto !== undefined ? { proto: p.proto as string } : {}),
    ...(p.node !== undefined ? { node: p.node as string } : {}),
    reply: p.reply === true,
  };
}

function hopLine(h: TraceHop, n: number): string {
  const outer = h.outer ? `   [outer ${h.outer.src} > ${h.outer.dst} ${h.outer.encap} +${h.outer.bytesAdded}B]` : '';
  return `  ${String(n).padStart(2)}. ${h.node.padEnd(10)} ${h.at.padEnd(24)} ${h.action}\n      ${h.src} > ${h.dst}  ttl ${h.ttl}  ${h.wireLen}B${outer}\n`;
}

export function renderTrace(r: TraceResult, entry?: string, title = 'packet'): string {
  let out = `${title}: ${r.packet.protocol} ${r.packet.src} > ${r.packet.dst}, ${r.mode} mode${entry ? `, ${entry}` : ''}\n`;
  if (r.service) {
    out += `service ${r.service} on ${r.node}: ${r.decision}${r.endpoint ? ` to ${r.endpoint}` : ''}; candidates ${r.candidates.join(', ') || 'none'}; masquerade ${r.masquerade ? 'yes' : 'no'}\n`;
  } else {
    out += `no service rule applies on ${r.node} (decision: ${r.decision})\n`;
  }
  r.hops.forEach((h, k) => (out += hopLine(h, k + 1)));
  out += `verdict: ${r.verdict}${r.dropReason ? ` (${r.dropReason})` : ''}\n`;
  if (r.reply) out += `\n${renderTrace(r.reply, undefined, 'reply')}`;
  return out;
}
