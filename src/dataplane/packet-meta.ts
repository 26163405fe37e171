/**
 * Per-packet pipeline state beside the batch's own columns: what the stages hand each other about
 * a packet on its way (the hook it met netfilter at, the conntrack direction, the service NAT's
 * choice, the route taken), in struct-of-arrays columns indexed like the batch (VPP's
 * `vnet_buffer` opaque metadata). One packet's columns are set by `begin` when it is injected,
 * and written by the stages after that; a stage copies the columns it uses into locals once per
 * batch.
 */
import { kBatchSize } from '../net/batch.js';

export class PacketMeta {
  /** HOOK_PREROUTING or HOOK_OUTPUT: where the packet meets netfilter on its current node. */
  readonly hook: Uint8Array;
  readonly fromPod: Uint8Array;
  /** Conntrack direction of the packet's entry (0 original, 1 reply). */
  readonly ctDir: Uint8Array;
  /** 1 while a new flow awaits its conntrack confirm at POSTROUTING or LOCAL_IN. */
  readonly newFlow: Uint8Array;
  /** 1 when conntrack called the packet INVALID on its current node and no rule dropped it there: it goes on untracked. */
  readonly ctInvalid: Uint8Array;
  readonly masq: Uint8Array;
  /** Endpoint row chosen by the service NAT, -1 none. */
  readonly endpoint: Int32Array;
  readonly servicePort: Int32Array;
  /** The original tuple of a new flow, before any NAT. */
  readonly origSrc: Uint32Array;
  readonly origDst: Uint32Array;
  readonly origSport: Uint16Array;
  readonly origDport: Uint16Array;
  /** Routing result: RK_* kind, next-hop node, gateway. */
  readonly outKind: Uint8Array;
  readonly outNode: Int32Array;
  readonly outGateway: Uint32Array;
  /** Stage visits, to catch routing loops. */
  readonly visits: Uint16Array;
  /** The destination was rewritten by NAT (the packet is routed, not bridged). */
  readonly dnatted: Uint8Array;
  /** Userspace mode: redirected to the proxy's socket on this node. */
  readonly redirected: Uint8Array;
  /** Userspace mode: the packet is the proxy's own, for the client connection in this slot (-1 none). */
  readonly proxyClientSlot: Int32Array;
  /**
   * DSR with a tunnel dispatch (Cilium's Geneve option): the service frontend the packet carries
   * to the backend's node, 0 none. With the IPv4-option dispatch the frontend is in the bytes.
   */
  readonly dsrIp: Uint32Array;
  readonly dsrPort: Uint16Array;
  /** A new non-TCP flow that carried DSR's IPv4 option: its conntrack entry is marked, so every later packet carries it too. */
  readonly dsrOption: Uint8Array;
  /**
   * A stage's scratch for its batched lookups (prerouting's conntrack, the socket stage's socket
   * table, postrouting's and local-in's conntrack confirm and socket answers): each packet's hash,
   * and what its prefetch read; valid within one run of the stage. prefetchDecisions (the mode's
   * tables, before service-nat's and the socket stage's decisions) keeps what it read in
   * lookupWarm[0], which the socket stage's own use overwrites after.
   * Both as int32 bits: a u32 above 2^31 read back and passed to a call the JIT does not inline
   * is boxed, once a packet (test/pipeline/allocation.test.ts).
   */
  readonly lookupHash: Int32Array;
  readonly lookupWarm: Int32Array;
  /**
   * Socket LB: the backend the socket stage gave the packet's TCP socket at its connect()
   * (address 0: none; an unconnected UDP socket has no peer). The connection's later packets are
   * built for it (replay.ts), as the kernel's connected socket builds them: no socket program runs
   * for them (pipeline.ts inject()).
   */
  readonly peerIp: Uint32Array;
  readonly peerPort: Uint16Array;

  constructor(capacity = kBatchSize) {
    const n = capacity;
    this.hook = new Uint8Array(n);
    this.fromPod = new Uint8Array(n);
    this.ctDir = new Uint8Array(n);
    this.newFlow = new Uint8Array(n);
    this.ctInvalid = new Uint8Array(n);
    this.masq = new Uint8Array(n);
    this.endpoint = new Int32Array(n);
    this.servicePort = new Int32Array(n);
    this.origSrc = new Uint32Array(n);
    this.origDst = new Uint32Array(n);
    this.origSport = new Uint16Array(n);
    this.origDport = new Uint16Array(n);
    this.outKind = new Uint8Array(n);
    this.outNode = new Int32Array(n);
    this.outGateway = new Uint32Array(n);
    this.visits = new Uint16Array(n);
    this.dnatted = new Uint8Array(n);
    this.redirected = new Uint8Array(n);
    this.proxyClientSlot = new Int32Array(n).fill(-1);
    this.dsrIp = new Uint32Array(n);
    this.dsrPort = new Uint16Array(n);
    this.dsrOption = new Uint8Array(n);
    this.lookupHash = new Int32Array(n);
    this.lookupWarm = new Int32Array(n);
    this.peerIp = new Uint32Array(n);
    this.peerPort = new Uint16Array(n);
  }

  /**
   * Starts packet i's path: it meets netfilter at `hook`, from a pod's veth or not. The other
   * columns need no reset: prerouting finds `dnatted` clear on every visit (the underlay and the
   * proxy clear it too, when they hand the packet to another node or to OUTPUT) and writes the
   * conntrack columns; the service NAT writes `masq`, `endpoint` and `servicePort` of every new
   * flow before any stage reads them; routing writes the `out*` columns.
   */
  begin(i: number, hook: number, fromPod: number): void {
    this.hook[i] = hook;
    this.fromPod[i] = fromPod;
    this.visits[i] = 0;
    this.newFlow[i] = 0;
    this.dnatted[i] = 0;
    this.redirected[i] = 0;
    this.proxyClientSlot[i] = -1;
    this.dsrIp[i] = 0;
    this.dsrOption[i] = 0;
    this.peerIp[i] = 0;
  }
}
