/**
 * Receive-side scaling as a NIC does it: the Toeplitz hash of a packet's IPv4 4-tuple under the
 * default key, and the queue its low bits pick through the indirection table. kdp shards a
 * replay's flows over workers this way (replay/flows.ts), so each worker replays what one queue of
 * a multi-queue NIC would hand its core.
 */

/** The RSS indirection table size of common NICs (ixgbe, mlx5 default 128 entries). */
export const kRetaSize = 128;

/** Microsoft's default RSS key (used by most NIC drivers when none is configured). */
const kRssKey = [
  0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4,
  0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/**
 * Toeplitz tables: for input byte position b (0..11 of srcIp, dstIp, srcPort, dstPort, in
 * network order) and value v, the XOR of the 32-bit key windows its set bits select.
 */
const kToeplitz: Uint32Array = (() => {
  const t = new Uint32Array(12 * 256);
  const window = (bit: number): number => {
    // The 32 key bits starting at key bit `bit`.
    let w = 0;
    for (let k = 0; k < 32; k++) {
      const kb = bit + k;
      const v = (kRssKey[kb >>> 3] >>> (7 - (kb & 7))) & 1;
      w = (w << 1) | v;
    }
    return w >>> 0;
  };
  for (let b = 0; b < 12; b++) {
    const windows: number[] = [];
    for (let bit = 0; bit < 8; bit++) windows.push(window(b * 8 + bit));
    for (let v = 0; v < 256; v++) {
      let h = 0;
      for (let bit = 0; bit < 8; bit++) if ((v >>> (7 - bit)) & 1) h ^= windows[bit];
      t[b * 256 + v] = h >>> 0;
    }
  }
  return t;
})();

/** The NIC's RSS hash of an IPv4 4-tuple (Toeplitz, default key), as ixgbe/mlx5 compute it. */
export function rssHash(srcIp: number, dstIp: number, srcPort: number, dstPort: number): number {
  const t = kToeplitz;
  const h =
    t[(srcIp >>> 24) & 255] ^
    t[256 + ((srcIp >>> 16) & 255)] ^
    t[512 + ((srcIp >>> 8) & 255)] ^
    t[768 + (srcIp & 255)] ^
    t[1024 + ((dstIp >>> 24) & 255)] ^
    t[1280 + ((dstIp >>> 16) & 255)] ^
    t[1536 + ((dstIp >>> 8) & 255)] ^
    t[1792 + (dstIp & 255)] ^
    t[2048 + ((srcPort >>> 8) & 255)] ^
    t[2304 + (srcPort & 255)] ^
    t[2560 + ((dstPort >>> 8) & 255)] ^
    t[2816 + (dstPort & 255)];
  return h >>> 0;
}

/** The queue (worker) of a hash with `queues` queues: the default indirection table, i mod queues. */
export function rssQueue(hash: number, queues: number): number {
  return (hash & (kRetaSize - 1)) % queues;
}
