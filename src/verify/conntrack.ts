/**
 * The kernel's own record of what it did to a flow: `conntrack -E -e NEW -o extended` (events,
 * which also catch flows the kernel kills at once, e.g. a TCP SYN answered only by a reset) and
 * `conntrack -L -o extended` in the node namespace. The original tuple is the packet as the client sent it; the reply tuple is what
 * the answer would look like, so its source is the DNAT target (the endpoint) and its
 * destination is the address the client was masqueraded to (SNAT).
 *
 *   ipv4 2 udp 17 29 src=10.244.1.250 dst=10.96.0.10 sport=10000 dport=53 [UNREPLIED]
 *        src=10.244.2.3 dst=10.244.1.250 sport=53 dport=10000 mark=0 use=1
 */

export interface CtTuple {
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
}

export interface CtEntry {
  readonly proto: 'tcp' | 'udp' | string;
  readonly original: CtTuple;
  readonly reply: CtTuple;
}

/** Parses `conntrack -L -o extended` output (lines it does not understand are skipped). */
export function parseConntrack(text: string): CtEntry[] {
  const out: CtEntry[] = [];
  for (const line of text.split('\n')) {
    // `conntrack -E` prefixes the event type: "[NEW] ipv4 2 udp ...".
    const words = line.trim().replace(/^\[[A-Z]+\]\s+/, '').split(/\s+/);
    if (words.length < 6 || words[0] !== 'ipv4') continue;
    const proto = words[2];
    const tuples: Record<string, string>[] = [];
    let cur: Record<string, string> | null = null;
    for (const w of words) {
      const eq = w.indexOf('=');
      if (eq <= 0) continue;
      const k = w.slice(0, eq);
      const v = w.slice(eq + 1);
      if (k === 'src') {
        cur = {};
        tuples.push(cur);
      }
      if (cur && (k === 'src' || k === 'dst' || k === 'sport' || k === 'dport')) cur[k] = v;
    }
    if (tuples.length < 2) continue;
    const t = (r: Record<string, string>): CtTuple => ({ src: r.src ?? '', dst: r.dst ?? '', sport: Number(r.sport ?? 0), dport: Number(r.dport ?? 0) });
    out.push({ proto, original: t(tuples[0]), reply: t(tuples[1]) });
  }
  return out;
}

/** Key of an original tuple, for looking a probe up. */
export function ctKey(proto: string, src: string, sport: number, dst: string, dport: number): string {
  return `${proto} ${src}:${sport} ${dst}:${dport}`;
}

export function indexConntrack(entries: readonly CtEntry[]): Map<string, CtEntry> {
  const m = new Map<string, CtEntry>();
  for (const e of entries) m.set(ctKey(e.proto, e.original.src, e.original.sport, e.original.dst, e.original.dport), e);
  return m;
}
