/**
 * TCP connection tracking states and transitions, with the semantics of Linux
 * `net/netfilter/nf_conntrack_proto_tcp.c` (state numbering, the per-direction transition table
 * indexed by the packet's flag class, and the default timeouts of `nf_conntrack_standalone.c`).
 *
 * What is modelled: the state machine (including simultaneous open, SYN_SENT2), INVALID and
 * IGNORE verdicts, the kernel's default per-state timeouts. What is not: sequence/window tracking
 * (`tcp_in_window`), so kdp behaves like `nf_conntrack_tcp_be_liberal=1`, and the RETRANS/UNACK
 * timeout shortening that depends on it.
 *
 * The transition table is written as text rows (one row per direction and flag class, one column
 * per current state) and compiled once at module load into a flat `Uint8Array` indexed
 * `(dir * TCP_FLAG_CLASSES + flagClass) * TCP_STATE_COUNT + state`.
 */

// State numbers are the kernel's `enum tcp_conntrack`, so traces read like /proc/net/nf_conntrack.
export const TCP_NONE = 0;
export const TCP_SYN_SENT = 1;
export const TCP_SYN_RECV = 2;
export const TCP_ESTABLISHED = 3;
export const TCP_FIN_WAIT = 4;
export const TCP_CLOSE_WAIT = 5;
export const TCP_LAST_ACK = 6;
export const TCP_TIME_WAIT = 7;
export const TCP_CLOSE = 8;
export const TCP_SYN_SENT2 = 9;
export const TCP_STATE_COUNT = 10;
/** Transition result: the packet is invalid (counted, state unchanged). */
export const TCP_INVALID = 10;
/** Transition result: the packet is accepted but neither changes state nor refreshes the timer. */
export const TCP_IGNORE = 11;

export const TCP_STATE_NAMES = [
  'NONE',
  'SYN_SENT',
  'SYN_RECV',
  'ESTABLISHED',
  'FIN_WAIT',
  'CLOSE_WAIT',
  'LAST_ACK',
  'TIME_WAIT',
  'CLOSE',
  'SYN_SENT2',
] as const;

// TCP header flag bits (byte 13 of the TCP header).
export const TCPF_FIN = 0x01;
export const TCPF_SYN = 0x02;
export const TCPF_RST = 0x04;
export const TCPF_PSH = 0x08;
export const TCPF_ACK = 0x10;

// Flag classes, in the kernel's priority: RST beats SYN beats FIN beats ACK.
export const TCP_CLASS_SYN = 0;
export const TCP_CLASS_SYNACK = 1;
export const TCP_CLASS_FIN = 2;
export const TCP_CLASS_ACK = 3;
export const TCP_CLASS_RST = 4;
export const TCP_CLASS_NONE = 5;
export const TCP_FLAG_CLASSES = 6;

/** Flag class of the low five flag bits (FIN SYN RST PSH ACK), as a 32-entry lookup table. */
export const TCP_FLAG_CLASS: Uint8Array = (() => {
  const t = new Uint8Array(32);
  for (let f = 0; f < 32; f++) {
    t[f] =
      f & TCPF_RST
        ? TCP_CLASS_RST
        : f & TCPF_SYN
          ? f & TCPF_ACK
            ? TCP_CLASS_SYNACK
            : TCP_CLASS_SYN
          : f & TCPF_FIN
            ? TCP_CLASS_FIN
            : f & TCPF_ACK
              ? TCP_CLASS_ACK
              : TCP_CLASS_NONE;
  }
  return t;
})();

/*
 * Columns: current state NONE SYN_SENT SYN_RECV ESTABLISHED FIN_WAIT CLOSE_WAIT LAST_ACK
 * TIME_WAIT CLOSE SYN_SENT2. Cells: next state (two-letter code), `iv` invalid, `ig` ignore.
 * Reasoning per row, as a man in the middle that must guess each end's state:
 *  orig SYN:    opens (no/ss), retransmits (ss), reopens after TIME_WAIT/CLOSE (RFC 1122),
 *               late SYN in simultaneous open stays s2; mid-connection SYNs are ignored (the
 *               receiver answers them with a RST or a challenge ACK).
 *  orig SYN/ACK: only meaningful answering a reply-direction SYN (simultaneous open).
 *  FIN (both):  first FIN -> FIN_WAIT, a FIN after FIN/ACK -> LAST_ACK, repeats stay.
 *  orig ACK:    loose pick-up of a running connection (no -> es), completes the handshake
 *               (sr -> es), ACKs a FIN (fw -> cw), the last ACK (la -> tw).
 *  reply SYN:   simultaneous open (ss -> s2), or a server reopening after TIME_WAIT.
 *  reply SYN/ACK: the normal answer (ss -> sr); retransmits and late ones are ignored.
 *  reply ACK:   may answer a half-open connection (ignored in ss/s2).
 *  RST (both):  closes anything that exists.
 */
const ROWS: readonly string[] = [
  // ORIGINAL direction
  /* syn    */ 'ss ss ig ig ig ig ig ss ss s2',
  /* synack */ 'iv iv sr iv iv iv iv iv iv sr',
  /* fin    */ 'iv iv fw fw la la la tw cl iv',
  /* ack    */ 'es iv es es cw cw tw tw cl iv',
  /* rst    */ 'iv cl cl cl cl cl cl cl cl cl',
  /* none   */ 'iv iv iv iv iv iv iv iv iv iv',
  // REPLY direction
  /* syn    */ 'iv s2 iv iv iv iv iv ss iv s2',
  /* synack */ 'iv sr ig ig ig ig ig ig ig sr',
  /* fin    */ 'iv iv fw fw la la la tw cl iv',
  /* ack    */ 'iv ig sr es cw cw tw tw cl ig',
  /* rst    */ 'iv cl cl cl cl cl cl cl cl cl',
  /* none   */ 'iv iv iv iv iv iv iv iv iv iv',
];

const CODES: Readonly<Record<string, number>> = {
  no: TCP_NONE,
  ss: TCP_SYN_SENT,
  sr: TCP_SYN_RECV,
  es: TCP_ESTABLISHED,
  fw: TCP_FIN_WAIT,
  cw: TCP_CLOSE_WAIT,
  la: TCP_LAST_ACK,
  tw: TCP_TIME_WAIT,
  cl: TCP_CLOSE,
  s2: TCP_SYN_SENT2,
  iv: TCP_INVALID,
  ig: TCP_IGNORE,
};

/** `TCP_TRANSITIONS[(dir * 6 + flagClass) * 10 + state]` is the next state, TCP_INVALID or TCP_IGNORE. */
export const TCP_TRANSITIONS: Uint8Array = (() => {
  const t = new Uint8Array(2 * TCP_FLAG_CLASSES * TCP_STATE_COUNT);
  for (let r = 0; r < ROWS.length; r++) {
    const cells = ROWS[r].split(' ');
    for (let s = 0; s < TCP_STATE_COUNT; s++) t[r * TCP_STATE_COUNT + s] = CODES[cells[s]];
  }
  return t;
})();

/** Next state for a packet in direction `dir` (0 original, 1 reply) carrying `flags` in `state`. */
export function tcpNextState(dir: number, flags: number, state: number): number {
  return TCP_TRANSITIONS[(dir * TCP_FLAG_CLASSES + TCP_FLAG_CLASS[flags & 0x1f]) * TCP_STATE_COUNT + state];
}

/**
 * Whether the entry may be evicted by the garbage collector when the table is under pressure
 * even though it is ASSURED (the kernel's `tcp_can_early_drop`): the connection is closing.
 */
export function tcpCanEarlyDrop(state: number): boolean {
  return state >= TCP_FIN_WAIT && state <= TCP_CLOSE;
}

/** Kernel default TCP timeouts in seconds (`nf_conntrack_proto_tcp.c`), indexed by state. */
export const kTcpDefaultTimeouts: readonly number[] = [
  /* NONE        */ 0,
  /* SYN_SENT    */ 120,
  /* SYN_RECV    */ 60,
  /* ESTABLISHED */ 5 * 24 * 3600,
  /* FIN_WAIT    */ 120,
  /* CLOSE_WAIT  */ 60,
  /* LAST_ACK    */ 30,
  /* TIME_WAIT   */ 120,
  /* CLOSE       */ 10,
  /* SYN_SENT2   */ 120,
];
