/**
 * Records what happens to one packet at every stage, for `kdp trace`. The stages call it only
 * when a recorder is attached (one check per batch), so the benchmark and the trace run the
 * same code.
 */
import { formatIp } from '../net/ipv4.js';
import { ENCAP_IPIP, ENCAP_NONE, type PacketBatch } from '../net/batch.js';
import { ipv4Dst, ipv4Src, ipv4Ttl } from '../net/ipv4-header.js';
import { kEthHdrLen } from '../net/eth.js';

export interface TraceHop {
  readonly node: string;
  /** Where on the node: an interface, a hook, a table. */
  readonly at: string;
  readonly action: string;
  /** Inner addresses after this hop, "ip:port". */
  readonly src: string;
  readonly dst: string;
  readonly ttl: number;
  readonly outer: null | { readonly src: string; readonly dst: string; readonly encap: 'vxlan' | 'ipip'; readonly bytesAdded: number };
  readonly wireLen: number;
}

export interface CapturedFrame {
  readonly bytes: Uint8Array;
  readonly wireLen: number;
  readonly hop: number;
}

/** The first service decision the traced packet met (the node where kube-proxy's rules applied). */
export interface RecordedDecision {
  readonly node: number;
  readonly verdict: number;
  readonly servicePort: number;
  readonly endpoint: number;
  readonly masquerade: boolean;
  readonly hook: number;
  readonly fromPodInterface: boolean;
  readonly srcIp: number;
  readonly srcPort: number;
  readonly dstIp: number;
  readonly dstPort: number;
  readonly proto: number;
  readonly rand: number;
}

/** What one direction's policy decided for the traced flow (`none`: no policy selects the workload, or no workload there). */
export interface PolicyVerdict {
  readonly verdict: 'allow' | 'deny' | 'none';
  /** The deciding policy, `ns/name` (`name` for a global one); null for none and the default deny. */
  readonly policy: string | null;
  /** The deciding rule's index among the policy's rules of that direction (as felix counts converted rules). */
  readonly rule: number | null;
}

export class TraceRecorder {
  readonly hops: TraceHop[] = [];
  /** Set by the policy stage where the traced packet met a workload's policy. */
  readonly policy: { egress: PolicyVerdict | null; ingress: PolicyVerdict | null } = { egress: null, ingress: null };
  decision: RecordedDecision | null = null;
  readonly frames: CapturedFrame[] | null;
  /** Batch index of the packet being traced. */
  readonly index: number;
  readonly #nodeName: (node: number) => string;

  constructor(index: number, nodeName: (node: number) => string, capture: boolean) {
    this.index = index;
    this.#nodeName = nodeName;
    this.frames = capture ? [] : null;
  }

  record(batch: PacketBatch, i: number, at: string, action: string): void {
    if (i !== this.index) return;
    const outerOff = batch.pktOff(i) + kEthHdrLen;
    const encap = batch.encap[i];
    const outer =
      encap === ENCAP_NONE
        ? null
        : {
            src: formatIp(ipv4Src(batch.bytes, outerOff)),
            dst: formatIp(ipv4Dst(batch.bytes, outerOff)),
            encap: encap === ENCAP_IPIP ? ('ipip' as const) : ('vxlan' as const),
            bytesAdded: encap === ENCAP_IPIP ? 20 : 50,
          };
    this.hops.push({
      node: this.#nodeName(batch.node[i]),
      at,
      action,
      src: `${formatIp(batch.srcIp[i])}:${batch.srcPort[i]}`,
      dst: `${formatIp(batch.dstIp[i])}:${batch.dstPort[i]}`,
      ttl: ipv4Ttl(batch.bytes, batch.l3Off[i]),
      outer,
      wireLen: batch.wireLen[i],
    });
    if (this.frames) this.frames.push({ bytes: batch.headerBytes(i).slice(), wireLen: batch.wireLen[i], hop: this.hops.length - 1 });
  }
}
