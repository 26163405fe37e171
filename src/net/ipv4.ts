/**
 * IPv4 addresses as unsigned 32-bit integers, and CIDRs as (base, prefix) pairs.
 *
 * This is the hot-path representation: no strings, no BigInt. Text is parsed only at the edges;
 * ip-num (used by the model loader) does the strict validation of user input, and these helpers
 * are the fast, allocation-free arithmetic everything else uses.
 */

/** A CIDR block: `base` is the network address with host bits cleared. */
export interface Cidr {
  readonly base: number;
  readonly prefix: number;
}

/** Netmask of a prefix length, as u32 (prefix 0 gives 0). */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** A netmask's prefix length: its leading ones (the inverse of prefixMask). */
export function maskToPrefix(mask: number): number {
  let p = 0;
  let m = mask >>> 0;
  while (m & 0x80000000) {
    p++;
    m = (m << 1) >>> 0;
  }
  return p;
}

/** Whether `ip` (u32) lies in `cidr`. */
export function cidrContains(cidr: Cidr, ip: number): boolean {
  return ((ip & prefixMask(cidr.prefix)) >>> 0) === cidr.base;
}

/** Whether two CIDRs share any address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const m = prefixMask(p);
  return ((a.base & m) >>> 0) === ((b.base & m) >>> 0);
}

/** Number of addresses in a CIDR. */
export function cidrSize(cidr: Cidr): number {
  return 2 ** (32 - cidr.prefix);
}

/** Dotted-quad text of a u32 address. */
export function formatIp(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidr.base)}/${cidr.prefix}`;
}

/**
 * Parses dotted-quad IPv4 text into a u32, or returns -1 when the text is not a canonical IPv4
 * address (leading zeros, which some tools read as octal, are refused).
 */
export function parseIp(text: string): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1;
      octet = octet * 10 + (c - 48);
      if (octet > 255 || ++digits > 3) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return (value * 256 + octet) >>> 0;
}

/**
 * Parses `a.b.c.d/p`; returns undefined when malformed or when host bits are set (Kubernetes
 * rejects `10.0.0.1/24` as a CIDR, and so does kdp, rather than silently masking it).
 */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const base = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (base < 0 || !/^(?:[0-9]|[12][0-9]|3[0-2])$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (((base & prefixMask(prefix)) >>> 0) !== base) return undefined;
  return { base, prefix };
}

/** Whether a text looks like an IPv6 address or CIDR (used to say "IPv6 not supported yet"). */
export function looksLikeIpv6(text: string): boolean {
  return text.includes(':');
}
