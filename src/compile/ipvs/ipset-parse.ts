/**
 * Reads `ipset save` output (`create NAME TYPE [options]`, `add NAME ENTRY [options]`) into sets
 * an iptables `-m set --match-set` can be evaluated against: kube-proxy's IPVS-mode sets (see
 * ipsets.ts, which renders them) and those of other owners (Calico's `cali40…`, firewalld, Docker).
 *
 * A set is a list of dimensions (ip, net, port, mark, iface) and its entries; an entry is one value
 * per dimension, each an inclusive [lo, hi] range (a net is its address range, a bare port its own
 * range, `tcp:80` carries the protocol). Types kdp does not evaluate (`list:set`, `hash:mac`, v6
 * marks, interfaces) are kept with `evaluable: false`: a rule matching against one is unknown, not
 * guessed; an IPv6 set never matches kdp's IPv4 packets.
 * Every problem is listed (RuleParseErrors), as for iptables-save. The members are also kept as
 * printed, which the IPVS mode's reader of a node (from-node.ts) compares with what it expects.
 */
import { RuleParseError, RuleParseErrors } from '../../errors.js';
import { parseCidr, parseIp } from '../../net/ipv4.js';
import { parseProto, PROTO_TCP, PROTO_UDP } from '../../net/proto.js';

export type IpsetDimension = 'ip' | 'net' | 'port' | 'mark' | 'iface';

export interface IpsetEntry {
  /** Per dimension: inclusive low and high (addresses as u32, ports 0..65535). */
  readonly lo: readonly number[];
  readonly hi: readonly number[];
  /** Per port dimension the protocol written (`tcp:80`), or 0 for any. */
  readonly proto: readonly number[];
  /** `nomatch` entries exclude (hash:net): a packet in one does not match. */
  readonly nomatch: boolean;
}

export interface IpsetSet {
  readonly name: string;
  readonly type: string;
  readonly dimensions: readonly IpsetDimension[];
  /** False for a type kdp does not evaluate: a match against it is unknown. */
  readonly evaluable: boolean;
  /** `family inet6`: kdp's IPv4 packets never match it (ip_set_test refuses a family mismatch). */
  readonly inet6: boolean;
  readonly entries: IpsetEntry[];
  /** Every member as `ipset save` printed it (`10.96.0.10,tcp:80`, `30080`), in file order, evaluable or not. */
  readonly members: string[];
  /** The `create` options after the type, as printed (`family inet hashsize 1024 ...`). */
  readonly options: string;
  /** 1-based line of the `create`. */
  readonly line: number;
}

const kDimensionNames: Readonly<Record<string, IpsetDimension>> = { ip: 'ip', net: 'net', port: 'port', mark: 'mark', iface: 'iface' };

function dimensionsOf(type: string): { dims: IpsetDimension[]; evaluable: boolean } | undefined {
  const m = /^(hash|bitmap|list):([a-z,]+)$/.exec(type);
  if (!m) return undefined;
  if (m[1] === 'list') return { dims: [], evaluable: false };
  const dims: IpsetDimension[] = [];
  let evaluable = true;
  for (const d of m[2].split(',')) {
    const dim = kDimensionNames[d];
    if (!dim) return { dims, evaluable: false }; // hash:mac and the like: kept, not evaluated
    if (dim === 'mark' || dim === 'iface') evaluable = false;
    dims.push(dim);
  }
  return { dims, evaluable };
}

/** One element of an entry in `dim`: [lo, hi, proto] or a message saying what is wrong. */
function element(dim: IpsetDimension, text: string): [number, number, number] | string {
  if (dim === 'port') {
    const m = /^(?:([a-z]+):)?(\d+)(?:-(\d+))?$/.exec(text);
    if (!m) return `invalid port ${JSON.stringify(text)}`;
    const proto = m[1] === undefined ? 0 : parseProto(m[1]);
    if (proto === undefined) return `unknown protocol ${JSON.stringify(m[1])}`;
    const lo = Number(m[2]);
    const hi = m[3] === undefined ? lo : Number(m[3]);
    if (lo > 65535 || hi > 65535 || hi < lo) return `invalid port ${JSON.stringify(text)}`;
    return [lo, hi, proto];
  }
  if (dim === 'ip' || dim === 'net') {
    const range = /^([\d.]+)-([\d.]+)$/.exec(text);
    if (range) {
      const lo = parseIp(range[1]);
      const hi = parseIp(range[2]);
      if (lo < 0 || hi < 0 || hi >>> 0 < lo >>> 0) return `invalid address range ${JSON.stringify(text)}`;
      return [lo >>> 0, hi >>> 0, 0];
    }
    if (text.includes('/')) {
      const c = parseCidr(text);
      if (!c) return `invalid network ${JSON.stringify(text)}`;
      const size = c.prefix === 0 ? 0x100000000 : 2 ** (32 - c.prefix);
      return [c.base >>> 0, (c.base + size - 1) >>> 0, 0];
    }
    const ip = parseIp(text);
    if (ip < 0) return `invalid address ${JSON.stringify(text)}`;
    return [ip >>> 0, ip >>> 0, 0];
  }
  return [0, 0, 0]; // mark, iface: the set is not evaluable, the entry is only kept
}

/** Parses `ipset save` text; `-` style reading is the caller's. Throws RuleParseErrors listing every bad line. */
export function parseIpsetSave(text: string): Map<string, IpsetSet> {
  const sets = new Map<string, IpsetSet>();
  const problems: RuleParseError[] = [];
  const lines = text.split('\n');
  for (let li = 0; li < lines.length; li++) {
    const lineNo = li + 1;
    const line = lines[li].replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const words = line.split(/\s+/);
    if (words[0] === 'create' && words.length >= 3) {
      const d = dimensionsOf(words[2]);
      if (!d) {
        problems.push(new RuleParseError(`unknown ipset type "${words[2]}" (ipset(8) names types like hash:ip,port or bitmap:port)`, lineNo));
        continue;
      }
      if (sets.has(words[1])) {
        problems.push(new RuleParseError(`set ${words[1]} is created twice`, lineNo));
        continue;
      }
      sets.set(words[1], { name: words[1], type: words[2], dimensions: d.dims, evaluable: d.evaluable, inet6: words.includes('inet6'), entries: [], members: [], options: words.slice(3).join(' '), line: lineNo });
    } else if (words[0] === 'add' && words.length >= 3) {
      const set = sets.get(words[1]);
      if (!set) {
        problems.push(new RuleParseError(`add to set "${words[1]}" before its create line`, lineNo));
        continue;
      }
      // Per-member extensions (timeout, comment, counters) follow the member; the member is the first word.
      set.members.push(words[2]);
      if (!set.evaluable || set.inet6) continue;
      const parts = words[2].split(',');
      if (parts.length !== set.dimensions.length) {
        problems.push(new RuleParseError(`entry "${words[2]}" has ${parts.length} parts, set ${set.name} (${set.type}) has ${set.dimensions.length}`, lineNo));
        continue;
      }
      const lo: number[] = [];
      const hi: number[] = [];
      const proto: number[] = [];
      let bad = '';
      for (let k = 0; k < parts.length; k++) {
        const e = element(set.dimensions[k], parts[k]);
        if (typeof e === 'string') {
          bad = e;
          break;
        }
        lo.push(e[0]);
        hi.push(e[1]);
        // ipset(8), hash:ip,port: "If the protocol is omitted, tcp is assumed"; bitmap:port has none.
        proto.push(set.dimensions[k] === 'port' && e[2] === 0 && set.type.startsWith('hash:') ? PROTO_TCP : e[2]);
      }
      if (bad) problems.push(new RuleParseError(bad, lineNo));
      else set.entries.push({ lo, hi, proto, nomatch: words.includes('nomatch') });
    } else {
      problems.push(new RuleParseError(`unknown ipset command "${words[0]}" (ipset save prints create and add lines)`, lineNo));
    }
  }
  if (problems.length > 0) throw new RuleParseErrors(problems);
  return sets;
}

/**
 * Whether the values (one per dimension, taken from the packet by the rule's src/dst flags) are in
 * the set: true, false, or undefined when the set is not evaluable. A `nomatch` entry that covers
 * the values wins over any other (ipset(8): hash:net nomatch). Cost: linear in the entries, for
 * `kdp trace` only, never on a benchmark's path.
 */
export function ipsetContains(set: IpsetSet, values: readonly number[], proto: number): boolean | undefined {
  // ip_set_test (net/netfilter/ipset/ip_set_core.c): fewer src/dst flags than the set has
  // dimensions, or another address family, is no match.
  if (set.inet6 || values.length < set.dimensions.length) return false;
  if (!set.evaluable) return undefined;
  // bitmap:port takes a packet's port of TCP and UDP only (ip_set_bitmap_port.c bitmap_port_kadt ->
  // ip_set_get_ip_port); its members carry no protocol to compare below.
  if (set.type === 'bitmap:port' && proto !== PROTO_TCP && proto !== PROTO_UDP) return false;
  let hit = false;
  for (const e of set.entries) {
    let inside = true;
    for (let k = 0; k < set.dimensions.length && inside; k++) {
      const v = values[k] >>> 0;
      if (v < e.lo[k] || v > e.hi[k]) inside = false;
      else if (set.dimensions[k] === 'port' && e.proto[k] !== 0 && e.proto[k] !== proto) inside = false;
    }
    if (!inside) continue;
    if (e.nomatch) return false;
    hit = true;
  }
  return hit;
}
