/**
 * Which /16s hold an address a table has: 65,536 bits (8 KiB), the top 16 bits of an address
 * naming its bit. A table with one answers a lookup of an address in a /16 none of its keys is in
 * from this bitmap, without reading its slots: nftables' FORWARD checks look up every DNATed
 * packet's endpoint address in no-endpoint-services and cluster-ips, which hold ClusterIPs and
 * other Service addresses, never a pod's (kube-proxy's service CIDR and the pod CIDR are apart),
 * so each check was a miss of a table of megabytes at 10k Services, one more dependent load after
 * the DNAT. With the filter, nftables' service-nat stage took 462 -> 424 ns a first packet at 1k
 * Services, 867 -> 721 at 10k and ~1,300 -> ~980 at 30k (`kdp bench --services N --modes nftables
 * --workers 1 --flows 500000` (300,000 at 10k and 30k), medians of three runs alternated with the
 * build before, 2026-12-05), the same decision checksums. IPVS's VS table and KUBE-IPVS-IPS, and
 * Cilium's service map, carry one for the same reason: every first packet the server's node sees
 * is to a pod's address (ipvs/build.ts and cilium/build.ts have their figures).
 *
 * Bits are set when a key is added and kept when it is removed: the bitmap is a superset of the
 * table's /16s, so "absent" from it is exact and "present" sends the lookup to the slots. The
 * table's answer, and the kernel's, is the same either way: this changes what a lookup reads, not
 * what it says.
 * Cost: one read of a word of an 8 KiB array, cached across lookups.
 */

/** A bitmap with no /16 present. */
export function newPrefixFilter(): Uint32Array {
  return new Uint32Array(65536 / 32);
}

/** Marks `addr`'s /16 present. */
export function addPrefix(filter: Uint32Array, addr: number): void {
  filter[addr >>> 21] |= 1 << ((addr >>> 16) & 31);
}

/** Whether a key of `addr`'s /16 may be in the table (false: no key is). */
export function mayHold(filter: Uint32Array, addr: number): boolean {
  return (filter[addr >>> 21] & (1 << ((addr >>> 16) & 31))) !== 0;
}
