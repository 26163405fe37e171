/**
 * DNS messages on the wire (RFC 1035 section 4, RFC 2782 for SRV): what a pod's resolver puts in
 * the UDP datagram it sends to cluster DNS, what CoreDNS puts in the answer, and the reading of
 * that answer at the pod, so that `kdp trace` carries real DNS bytes through the dataplane and
 * reports what arrived rather than what was meant to.
 *
 * What glibc sends (resolv/res_mkquery.c): a fresh 16-bit ID, RD set, one question of class IN,
 * no EDNS0 unless `options edns0`, so a UDP answer is at most 512 bytes (RFC 1035 4.2.1); a longer
 * one comes back with TC set and the question only, and the resolver asks again over TCP.
 * CoreDNS's kubernetes plugin answers with QR, AA and RD copied, and without RA (its query log
 * prints `NXDOMAIN qr,aa,rd`, coredns/coredns issue 3835; dig warns "recursion requested but not
 * available"), the question echoed, names in answers pointing back at the question where they
 * repeat it (compression, 4.1.4). Unlike CoreDNS, kdp writes no SOA in the authority section of a
 * negative answer (see zone.ts), so its NXDOMAIN and NODATA answers are that much shorter.
 *
 * Cost: a few hundred bytes built or read once per query; not a per-packet path of the benchmark.
 */
import { InvalidArgumentError } from '../errors.js';
import { read16, read32, write16, write32 } from '../net/bytes.js';
import { formatIp, parseIp } from '../net/ipv4.js';
import type { DnsRecord, DnsResponse, QueryType, Rcode } from './message.js';

/** RFC 1035 3.2.2 and RFC 2782: the TYPE values kdp writes and reads. */
const kTypeCodes: Readonly<Record<QueryType, number>> = { A: 1, CNAME: 5, PTR: 12, AAAA: 28, SRV: 33, ANY: 255 };
const kRcodes: readonly Rcode[] = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
const CLASS_IN = 1;
const kHeaderLen = 12;
/** The question's name always starts right after the header: a pointer to it is 0xc00c. */
const kQuestionNamePointer = 0xc000 | kHeaderLen;
/** RFC 1035 4.2.1: the most a UDP message may carry without EDNS0. */
export const kUdpMessageMax = 512;

const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;

function typeName(code: number): string {
  for (const [name, c] of Object.entries(kTypeCodes)) if (c === code) return name;
  return `TYPE${code}`;
}

/** A name's labels (absolute or not), checked against RFC 1035's limits: 63 bytes a label, 255 in all. */
function labelsOf(name: string): string[] {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  if (trimmed === '') return [];
  const labels = trimmed.split('.');
  let wire = 1;
  for (const l of labels) {
    if (l.length === 0 || l.length > 63) throw new InvalidArgumentError(`"${name}": a DNS label is 1 to 63 characters`);
    wire += l.length + 1;
  }
  if (wire > 255) throw new InvalidArgumentError(`"${name}": a DNS name is at most 255 bytes on the wire`);
  return labels;
}

class Writer {
  readonly bytes = new Uint8Array(65535);
  length = 0;
  u16(v: number): void {
    write16(this.bytes, this.length, v);
    this.length += 2;
  }
  u32(v: number): void {
    write32(this.bytes, this.length, v);
    this.length += 4;
  }
  /** `name`, or a pointer to the question's name when it is the same name. */
  name(name: string, question?: string): void {
    if (question !== undefined && sameName(name, question)) return this.u16(kQuestionNamePointer);
    for (const l of labelsOf(name)) {
      this.bytes[this.length++] = l.length;
      for (let k = 0; k < l.length; k++) this.bytes[this.length++] = l.charCodeAt(k);
    }
    this.bytes[this.length++] = 0;
  }
  done(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

const sameName = (a: string, b: string): boolean => a.replace(/\.$/, '').toLowerCase() === b.replace(/\.$/, '').toLowerCase();

function header(w: Writer, id: number, flags: number, qd: number, an: number, ar: number): void {
  w.u16(id);
  w.u16(flags);
  w.u16(qd);
  w.u16(an);
  w.u16(0);
  w.u16(ar);
}

/** A stub resolver's query: one question, recursion desired (res_mkquery). */
export function encodeQuery(id: number, qname: string, qtype: QueryType): Uint8Array {
  const w = new Writer();
  header(w, id, FLAG_RD, 1, 0, 0);
  w.name(qname);
  w.u16(kTypeCodes[qtype]);
  w.u16(CLASS_IN);
  return w.done();
}

function record(w: Writer, r: DnsRecord, question: string): void {
  w.name(r.name, question);
  w.u16(kTypeCodes[r.type]);
  w.u16(CLASS_IN);
  w.u32(r.ttl);
  const lenAt = w.length;
  w.u16(0);
  if (r.type === 'A') {
    const ip = parseIp(r.data);
    if (ip < 0) throw new InvalidArgumentError(`A record ${r.name} has "${r.data}", not an IPv4 address`);
    w.u32(ip);
  } else if (r.type === 'SRV') {
    const [priority, weight, port, target] = r.data.split(' ');
    w.u16(Number(priority));
    w.u16(Number(weight));
    w.u16(Number(port));
    w.name(target);
  } else if (r.type === 'CNAME' || r.type === 'PTR') {
    w.name(r.data);
  } else {
    throw new InvalidArgumentError(`kdp does not write ${r.type} records on the wire`);
  }
  write16(w.bytes, lenAt, w.length - lenAt - 2);
}

/**
 * CoreDNS's answer to `query` (the bytes that arrived): the question echoed, `response`'s records,
 * AA since the kubernetes plugin is authoritative for its zone. When the message would pass 512
 * bytes it is cut to the header and question with TC set, as miekg/dns's Truncate does for a
 * client that offered no EDNS0 buffer.
 */
export function encodeResponse(query: Uint8Array, response: DnsResponse): Uint8Array {
  const q = decodeMessage(query);
  if (q.questions.length !== 1) throw new InvalidArgumentError('a query carries one question');
  const { name, type } = q.questions[0];
  const rcode = kRcodes.indexOf(response.rcode ?? 'SERVFAIL');
  const flags = FLAG_QR | FLAG_AA | (q.flags & FLAG_RD) | rcode;
  const w = new Writer();
  header(w, q.id, flags, 1, response.answers.length, response.additional.length);
  w.name(name);
  w.u16(kTypeCodes[type as QueryType] ?? 0);
  w.u16(CLASS_IN);
  for (const r of response.answers) record(w, r, name);
  for (const r of response.additional) record(w, r, name);
  if (w.length <= kUdpMessageMax) return w.done();
  const cut = new Writer();
  header(cut, q.id, flags | FLAG_TC, 1, 0, 0);
  cut.name(name);
  cut.u16(kTypeCodes[type as QueryType] ?? 0);
  cut.u16(CLASS_IN);
  return cut.done();
}

export interface DecodedMessage {
  readonly id: number;
  readonly flags: number;
  readonly response: boolean;
  readonly truncated: boolean;
  readonly rcode: Rcode | null;
  readonly questions: readonly { readonly name: string; readonly type: string }[];
  readonly answers: readonly DnsRecord[];
  readonly additional: readonly DnsRecord[];
}

/** Reads a name at `o` (following pointers, never looping); returns it absolute and where the record goes on. */
function readName(b: Uint8Array, o: number): { name: string; next: number } {
  const labels: string[] = [];
  let next = -1;
  for (let hops = 0; ; hops++) {
    if (o >= b.length || hops > 127) throw new InvalidArgumentError('DNS message: a name runs past the end or loops');
    const len = b[o];
    if (len === 0) {
      if (next < 0) next = o + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (next < 0) next = o + 2;
      o = read16(b, o) & 0x3fff;
      continue;
    }
    labels.push(String.fromCharCode(...b.subarray(o + 1, o + 1 + len)));
    o += 1 + len;
  }
  return { name: `${labels.join('.')}.`, next };
}

function readRecords(b: Uint8Array, o: number, count: number, out: DnsRecord[]): number {
  for (let k = 0; k < count; k++) {
    const { name, next } = readName(b, o);
    const type = typeName(read16(b, next));
    const ttl = read32(b, next + 4);
    const len = read16(b, next + 8);
    const rd = next + 10;
    if (rd + len > b.length) throw new InvalidArgumentError('DNS message: a record runs past the end');
    let data: string;
    if (type === 'A') data = formatIp(read32(b, rd));
    else if (type === 'SRV') data = `${read16(b, rd)} ${read16(b, rd + 2)} ${read16(b, rd + 4)} ${readName(b, rd + 6).name}`;
    else if (type === 'CNAME' || type === 'PTR') data = readName(b, rd).name;
    else throw new InvalidArgumentError(`DNS message: kdp does not read ${type} records`);
    out.push({ name, type: type as DnsRecord['type'], ttl, data });
    o = rd + len;
  }
  return o;
}

/** The message as dig would print it: header bits, question, answer and additional records. */
export function decodeMessage(b: Uint8Array): DecodedMessage {
  if (b.length < kHeaderLen) throw new InvalidArgumentError(`DNS message of ${b.length} bytes: shorter than its header`);
  const flags = read16(b, 2);
  const qd = read16(b, 4);
  const an = read16(b, 6);
  const ns = read16(b, 8);
  const ar = read16(b, 10);
  let o = kHeaderLen;
  const questions: { name: string; type: string }[] = [];
  for (let k = 0; k < qd; k++) {
    const { name, next } = readName(b, o);
    questions.push({ name, type: typeName(read16(b, next)) });
    o = next + 4;
  }
  const answers: DnsRecord[] = [];
  const additional: DnsRecord[] = [];
  o = readRecords(b, o, an, answers);
  if (ns !== 0) throw new InvalidArgumentError('DNS message: kdp writes no authority section and does not read one');
  readRecords(b, o, ar, additional);
  return {
    id: read16(b, 0),
    flags,
    response: (flags & FLAG_QR) !== 0,
    truncated: (flags & FLAG_TC) !== 0,
    rcode: kRcodes[flags & 0xf] ?? null,
    questions,
    answers,
    additional,
  };
}
