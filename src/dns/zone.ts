/**
 * Cluster DNS as CoreDNS's `kubernetes` plugin answers it (CoreDNS 1.14.7, plugin/kubernetes:
 * handler.go ServeDNS, kubernetes.go Records/findServices/findPods, parse.go parseRequest,
 * reverse.go, and plugin/backend_lookup.go A/AAAA/SRV/PTR/CNAME), over the records the Kubernetes
 * DNS specification (kubernetes/dns docs/specification.md) defines:
 *
 * - `svc.ns.svc.<domain>` A: the ClusterIP; for a headless Service, every ready endpoint address.
 * - `host.svc.ns.svc.<domain>` A: one endpoint, named by its `hostname` or, lacking one, by its
 *   address with dashes (`10-244-1-5`), as CoreDNS's endpointHostname does; CoreDNS answers these
 *   for ClusterIP Services' endpoints too, not only headless ones as the specification says.
 * - `_port._proto.svc.ns.svc.<domain>` SRV: priority 0, weight floor(100 / records) (at least 1),
 *   the port, and as target the Service name (ClusterIP) or the endpoint name (headless), with the
 *   target's A record in the additional section.
 * - ExternalName: a CNAME to `spec.externalName`; an A/AAAA query chases it inside the zone, and
 *   CoreDNS asks its upstream for a target outside (kdp cannot: that part is unknown).
 * - PTR `d.c.b.a.in-addr.arpa`: the Service owning a ClusterIP, else every ready endpoint with the
 *   address; anything else falls through to `forward` (kubeadm's `fallthrough in-addr.arpa`).
 * - `a-b-c-d.ns.pod.<domain>` A, as the `pods` setting says.
 * - NXDOMAIN when the name does not exist; NOERROR with no answer (NODATA) when it exists but has
 *   no record of the type, e.g. AAAA of an IPv4 Service, or any name of an existing namespace.
 *
 * Readiness: CoreDNS answers only endpoints whose `ready` condition is true (object/endpoint.go).
 * With `publishNotReadyAddresses` the EndpointSlice controller writes every endpoint ready
 * (pkg/controller/endpointslice utils: `ready := service.Spec.PublishNotReadyAddresses ||
 * podutil.IsPodReady(pod)`); kdp applies that rule, so a hand-written slice behaves as a real one.
 *
 * Known differences, on purpose: records come in file order (CoreDNS's informer order is
 * arbitrary, and kubeadm's `loadbalance` shuffles A records per answer); negative answers carry no
 * SOA (the JSON contract has no authority section); `ns.dns.<domain>`, TXT `dns-version`, zonal
 * and multicluster names are not modelled.
 *
 * Cost: building indexes every Service and endpoint once; an answer is a few map lookups plus the
 * records it returns. Not a per-packet path.
 */
import { formatIp, looksLikeIpv6, parseIp } from '../net/ipv4.js';
import { PROTO_SCTP, PROTO_UDP } from '../net/proto.js';
import type { Cluster, Service } from '../model/types.js';
import { kKubeadmCorefile, type CorednsSettings } from './corefile.js';
import type { DnsRecord, DnsResponse, QueryType } from './message.js';

/** One backend answer, CoreDNS's msg.Service: an address or a name, a port, and the name it lives under. */
interface Entry {
  readonly host: string;
  readonly port: number;
  /** Owner name without the trailing dot (msg.Domain of the key): the SRV target. */
  readonly key: string;
}

/** Records(): entries, or a name error (NXDOMAIN). */
interface Lookup {
  readonly entries: readonly Entry[];
  readonly nameError: boolean;
}

interface Request {
  readonly podOrSvc: '' | 'svc' | 'pod';
  readonly namespace: string;
  readonly service: string;
  readonly endpoint: string;
  readonly port: string;
  readonly protocol: string;
}

/** CoreDNS's maxCnameChainLength. */
const kMaxCnameChain = 10;
const kReverseZone = 'in-addr.arpa';
const kReverse6Zone = 'ip6.arpa';

const nameErr: Lookup = { entries: [], nameError: true };
const noData: Lookup = { entries: [], nameError: false };

const isIp = (host: string): boolean => parseIp(host) >= 0 || looksLikeIpv6(host);

/** IPv6 text as Go's net.ParseIP takes it (hex groups, at most one `::`), without an embedded IPv4 tail. */
function isIpv6Text(text: string): boolean {
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const groups = halves.flatMap((h) => (h === '' ? [] : h.split(':')));
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return false;
  return halves.length === 2 ? groups.length < 8 : groups.length === 8;
}
const fqdn = (name: string): string => (name.endsWith('.') ? name : `${name}.`);
const bare = (name: string): string => (name.endsWith('.') ? name.slice(0, -1) : name);
const stripUnderscore = (s: string): string => (s.startsWith('_') ? s.slice(1) : s);
const protoName = (p: number): string => (p === PROTO_UDP ? 'udp' : p === PROTO_SCTP ? 'sctp' : 'tcp');

/** The authoritative view of one cluster's DNS zone, answering one question at a time. */
export class ClusterZone {
  /** The cluster domain, lower case, no trailing dot. */
  readonly domain: string;
  readonly settings: CorednsSettings;
  readonly #cluster: Cluster;
  readonly #namespaces: Set<string>;
  readonly #services = new Map<string, Service>();
  readonly #podIps = new Map<string, Set<string>>();
  /** PTR targets by address: a ClusterIP's Service (the first one wins), else every ready endpoint's name. */
  readonly #reverseNames = new Map<number, string[]>();

  constructor(cluster: Cluster, settings: CorednsSettings = kKubeadmCorefile) {
    this.#cluster = cluster;
    this.settings = settings;
    this.domain = cluster.dns.domain.toLowerCase();
    this.#namespaces = new Set(cluster.dns.namespaces);
    for (const s of cluster.services) this.#services.set(`${s.namespace}/${s.name}`, s);
    for (const p of cluster.pods) {
      const ip = formatIp(p.ip);
      if (!this.#podIps.has(ip)) this.#podIps.set(ip, new Set());
      this.#podIps.get(ip)!.add(p.namespace);
    }
    // serviceRecordForIP: Services with the ClusterIP first; endpoints only for other addresses.
    for (const s of cluster.services) {
      for (const ip of s.clusterIPs) if (!this.#reverseNames.has(ip)) this.#reverseNames.set(ip, [`${s.name}.${s.namespace}.svc.${this.domain}.`]);
    }
    const byEndpoint = new Map<number, string[]>();
    cluster.services.forEach((s, i) => {
      for (const sl of cluster.dns.slices[i]) {
        for (const e of sl.endpoints) {
          if (!(e.ready || s.publishNotReadyAddresses)) continue;
          for (const ip of e.ips) {
            if (this.#reverseNames.has(ip)) continue;
            const names = byEndpoint.get(ip) ?? [];
            const name = `${e.hostname || formatIp(ip).replaceAll('.', '-')}.${s.name}.${s.namespace}.svc.${this.domain}.`;
            if (!names.includes(name)) names.push(name);
            byEndpoint.set(ip, names);
          }
        }
      }
    });
    for (const [ip, names] of byEndpoint) this.#reverseNames.set(ip, names);
  }

  /** The response CoreDNS sends to one question. */
  answer(qname: string, qtype: QueryType): DnsResponse {
    const name = bare(qname).toLowerCase();
    const zone = this.#zoneOf(name);
    if (zone === '') return upstream(`${fqdn(qname)} is outside the cluster zone ${this.domain}: CoreDNS forwards it to its upstream`);
    if (zone !== this.domain) return this.#reverse(qname, name, zone, qtype);
    const owner = fqdn(qname);
    switch (qtype) {
      case 'A':
      case 'AAAA': {
        const r = this.#address(owner, name, qtype, 0);
        if (r.upstream) return upstream(`CoreDNS chases the CNAME to ${r.upstream} through its upstream`, r.records);
        return r.nameError ? nxdomain() : noerror(r.records);
      }
      case 'SRV':
        return this.#srv(owner, name);
      case 'CNAME': {
        // backend_lookup.go CNAME: the first entry, when it is a name.
        const l = this.#records(name, qtype);
        if (l.nameError) return nxdomain();
        const first = l.entries[0];
        return noerror(first && !isIp(first.host) ? [this.#record(owner, 'CNAME', fqdn(first.host))] : []);
      }
      case 'PTR': {
        // reverse.go: a forward name has no address to reverse, so Records() decides, and PTR keeps names.
        const l = this.#records(name, qtype);
        if (l.nameError) return nxdomain();
        return noerror(dedup(l.entries.filter((e) => !isIp(e.host)).map((e) => this.#record(owner, 'PTR', fqdn(e.host)))));
      }
      case 'ANY': {
        // handler.go default case: a fake A lookup tells NXDOMAIN from NODATA; no records either way.
        return this.#address(owner, name, 'A', 0).nameError ? nxdomain() : noerror([]);
      }
    }
  }

  /** plugin.Zones.Matches: the longest configured zone the name is in. */
  #zoneOf(name: string): string {
    for (const z of [this.domain, kReverseZone, kReverse6Zone]) {
      if (name === z || name.endsWith(`.${z}`)) return z;
    }
    return '';
  }

  /** in-addr.arpa and ip6.arpa: PTR for Service and endpoint addresses, everything else falls through upstream. */
  #reverse(qname: string, name: string, zone: string, qtype: QueryType): DnsResponse {
    const fallthrough = upstream(`CoreDNS has no record for ${fqdn(qname)} and falls through (fallthrough ${zone}) to its upstream`);
    if (qtype !== 'PTR' || zone !== kReverseZone) return fallthrough;
    const labels = name.slice(0, -kReverseZone.length - 1).split('.');
    const ip = labels.length === 4 ? parseIp(labels.reverse().join('.')) : -1;
    if (ip < 0) return fallthrough;
    const names = this.#reverseNames.get(ip);
    return names ? noerror(names.map((n) => this.#record(fqdn(qname), 'PTR', n))) : fallthrough;
  }

  /** parse.go parseRequest (no multicluster, no zonal names); undefined is errInvalidRequest. */
  #parse(name: string): Request | undefined {
    const none: Request = { podOrSvc: '', namespace: '', service: '', endpoint: '', port: '', protocol: '' };
    const base = name === this.domain ? '' : name.slice(0, -this.domain.length - 1);
    if (base === '' || base === 'svc' || base === 'pod') return none;
    const segs = base.split('.');
    let last = segs.length - 1;
    const podOrSvc = segs[last];
    if (podOrSvc !== 'svc' && podOrSvc !== 'pod') return undefined;
    const r = { ...none, podOrSvc } as { -readonly [K in keyof Request]: Request[K] };
    if (--last < 0) return r;
    r.namespace = segs[last];
    if (--last < 0) return r;
    r.service = segs[last];
    if (--last < 0) return r;
    if (last === 0) r.endpoint = segs[0];
    else if (last === 1) {
      r.protocol = stripUnderscore(segs[1]);
      r.port = stripUnderscore(segs[0]);
    } else return undefined; // too long
    return r;
  }

  /** kubernetes.go Records, plus Services()'s rule that SRV never returns an ExternalName's CNAME. */
  #records(name: string, qtype: QueryType): Lookup {
    const r = this.#parse(name);
    if (!r) return nameErr;
    if (r.podOrSvc === '') return noData;
    if (!this.#namespaces.has(r.namespace)) return nameErr;
    const found = r.podOrSvc === 'pod' ? this.#pods(r) : this.#servicesFor(r);
    if (qtype !== 'SRV') return found;
    return { entries: found.entries.filter((e) => isIp(e.host)), nameError: found.nameError };
  }

  /** findPods. */
  #pods(r: Request): Lookup {
    if (this.settings.pods === 'disabled') return nameErr;
    if (r.service === '') return noData;
    const name = r.service;
    const ip = (name.match(/-/g)?.length ?? 0) === 3 && !name.includes('--') ? name.replaceAll('-', '.') : name.replaceAll('-', ':');
    const key = `${name}.${r.namespace}.pod.${this.domain}`;
    if (this.settings.pods === 'insecure') {
      // net.ParseIP: an IPv4 dotted quad, or an IPv6 text, which exists but has no A record.
      return parseIp(ip) >= 0 || isIpv6Text(ip) ? { entries: [{ host: ip, port: 0, key }], nameError: false } : nameErr;
    }
    return this.#podIps.get(ip)?.has(r.namespace) ? { entries: [{ host: ip, port: 0, key }], nameError: false } : nameErr;
  }

  /** findServices. */
  #servicesFor(r: Request): Lookup {
    if (r.service === '') return noData;
    const svc = this.#services.get(`${r.namespace}/${r.service}`);
    if (!svc) return nameErr;
    const svcName = `${svc.name}.${svc.namespace}.svc.${this.domain}`;
    const matchPort = (name: string, protocol: string): boolean =>
      (r.port === '' || r.port === name.toLowerCase()) && (r.protocol === '' || r.protocol === protocol);

    if (svc.type === 'ExternalName') {
      // No endpoint, port or protocol labels under an ExternalName; an IP as externalName is not a CNAME.
      if (r.endpoint !== '' || r.port !== '' || r.protocol !== '' || isIp(svc.externalName)) return nameErr;
      return { entries: [{ host: svc.externalName, port: 0, key: svcName }], nameError: false };
    }

    if (svc.headless || r.endpoint !== '') {
      const entries: Entry[] = [];
      for (const sl of this.#cluster.dns.slices[svc.index]) {
        // A slice without ports gets CoreDNS's sentinel port -1: A records, no SRV.
        const ports = sl.ports.length > 0 ? sl.ports.map((p) => ({ name: p.name, protocol: protoName(p.protocol), port: p.port })) : [{ name: '', protocol: '', port: -1 }];
        for (const e of sl.endpoints) {
          if (!(e.ready || svc.publishNotReadyAddresses)) continue;
          for (const ip of e.ips) {
            const host = e.hostname || formatIp(ip).replaceAll('.', '-');
            if (r.endpoint !== '' && r.endpoint !== host.toLowerCase()) continue;
            for (const p of ports) {
              if (!matchPort(p.name, p.protocol)) continue;
              entries.push({ host: formatIp(ip), port: p.port, key: `${host}.${svcName}` });
            }
          }
        }
      }
      // A headless Service with no ready endpoint (or none matching) is NXDOMAIN, as in findServices.
      return entries.length > 0 ? { entries, nameError: false } : nameErr;
    }

    const entries: Entry[] = [];
    let matched = false;
    for (const pi of svc.ports) {
      const p = this.#cluster.ports[pi];
      if (!matchPort(p.name, protoName(p.protocol))) continue;
      matched = true;
      for (const ip of svc.clusterIPs) entries.push({ host: formatIp(ip), port: p.port, key: svcName });
    }
    return matched ? { entries, nameError: false } : nameErr;
  }

  /** backend_lookup.go A / AAAA, with CNAME chasing inside the zone. */
  #address(owner: string, name: string, type: 'A' | 'AAAA', depth: number): { records: DnsRecord[]; nameError: boolean; upstream?: string } {
    const l = name === this.domain ? noData : this.#records(name, type);
    if (l.nameError) return { records: [], nameError: true };
    const records: DnsRecord[] = [];
    const seen = new Set<string>();
    let upstreamTarget: string | undefined;
    for (const e of l.entries) {
      if (!isIp(e.host)) {
        const target = fqdn(e.host);
        if (bare(target).toLowerCase() === name || depth > kMaxCnameChain) continue; // x CNAME x, or too long a chain
        const cname = this.#record(owner, 'CNAME', target);
        const targetName = bare(target).toLowerCase();
        if (this.#zoneOf(targetName) === this.domain) {
          const next = this.#address(target, targetName, type, depth + 1);
          if (!next.nameError && next.records.length > 0) records.push(cname, ...next.records);
          if (next.upstream) upstreamTarget = next.upstream;
        } else {
          // The rest comes from CoreDNS's upstream; the CNAME stands only if the upstream answers.
          records.push(cname);
          upstreamTarget = target;
        }
        continue;
      }
      const v4 = parseIp(e.host) >= 0;
      if ((type === 'A') !== v4 || seen.has(e.host)) continue;
      seen.add(e.host);
      records.push(this.#record(owner, type, e.host));
    }
    return { records, nameError: false, ...(upstreamTarget ? { upstream: upstreamTarget } : {}) };
  }

  /** backend_lookup.go SRV: weights per priority, answer and additional sections. */
  #srv(owner: string, name: string): DnsResponse {
    const l = this.#records(name, 'SRV');
    if (l.nameError) return nxdomain();
    // Every entry has priority 0 and weight 0 (counted as 100), so each record's weight is
    // floor(100 / (100 * n) * 100), computed in float64 as Go does, and never below 1.
    const total = 100 * l.entries.length;
    const weight = Math.max(1, Math.floor((100 / total) * 100));
    const answers: DnsRecord[] = [];
    const additional: DnsRecord[] = [];
    const dup = new Set<string>();
    for (const e of l.entries) {
      if (e.port === -1) continue;
      const target = `${e.key}.`;
      if (!dup.has(`${target}/${e.port}`)) {
        dup.add(`${target}/${e.port}`);
        answers.push(this.#record(owner, 'SRV', `0 ${weight} ${e.port} ${target}`));
      }
      if (!dup.has(`${target}/${e.host}`)) {
        dup.add(`${target}/${e.host}`);
        additional.push(this.#record(target, parseIp(e.host) >= 0 ? 'A' : 'AAAA', e.host));
      }
    }
    return { rcode: 'NOERROR', answers, additional };
  }

  #record(name: string, type: DnsRecord['type'], data: string): DnsRecord {
    return { name, type, ttl: this.settings.ttl, data };
  }
}

function noerror(answers: DnsRecord[]): DnsResponse {
  return { rcode: 'NOERROR', answers, additional: [] };
}

function nxdomain(): DnsResponse {
  return { rcode: 'NXDOMAIN', answers: [], additional: [] };
}

function upstream(because: string, answers: DnsRecord[] = []): DnsResponse {
  return { rcode: null, answers, additional: [], unknownBecause: because };
}

function dedup(records: DnsRecord[]): DnsRecord[] {
  const seen = new Set<string>();
  return records.filter((r) => !seen.has(r.data) && (seen.add(r.data), true));
}
