/** Ethernet II header (no VLAN tag, no FCS: pcap and the kernel's skb both omit the FCS). */

import { read16, readMac, write16, writeMac } from './bytes.js';

export const kEthHdrLen = 14;
export const ETHERTYPE_IPV4 = 0x0800;

/** Writes dst MAC, src MAC and EtherType at `b[o]`. MACs are 48-bit numbers. */
export function writeEth(b: Uint8Array, o: number, dstMac: number, srcMac: number, etherType: number): void {
  writeMac(b, o, dstMac);
  writeMac(b, o + 6, srcMac);
  write16(b, o + 12, etherType);
}

export function ethDst(b: Uint8Array, o: number): number {
  return readMac(b, o);
}

export function ethSrc(b: Uint8Array, o: number): number {
  return readMac(b, o + 6);
}

export function ethType(b: Uint8Array, o: number): number {
  return read16(b, o + 12);
}
