/**
 * DNS records and responses as `dig` prints them: owner names absolute (a trailing dot), record
 * data in presentation format (`10.96.0.10`, `0 100 80 web.shop.svc.cluster.local.`). These are
 * the shapes `kdp resolve --json` writes and the later DNS-on-the-dataplane work reads.
 */

/** Query types kdp answers; ANY is what the kubernetes plugin answers NODATA to (no `any` plugin in kubeadm's Corefile). */
export const kQueryTypes = ['A', 'AAAA', 'SRV', 'PTR', 'CNAME', 'ANY'] as const;
export type QueryType = (typeof kQueryTypes)[number];

/** RCODEs (RFC 1035 4.1.1, RFC 6895) a resolver acts on. */
export type Rcode = 'NOERROR' | 'FORMERR' | 'SERVFAIL' | 'NXDOMAIN' | 'NOTIMP' | 'REFUSED';

export interface DnsRecord {
  /** Owner name, absolute. */
  readonly name: string;
  readonly type: 'A' | 'AAAA' | 'SRV' | 'PTR' | 'CNAME';
  readonly ttl: number;
  /** Presentation format, as dig's answer section writes it. */
  readonly data: string;
}

export interface DnsResponse {
  /**
   * null when the answer comes from outside the cluster file (CoreDNS's `forward` to the node's
   * upstream, or a nameserver that is not cluster DNS): kdp does not know it and does not guess.
   */
  readonly rcode: Rcode | null;
  readonly answers: readonly DnsRecord[];
  readonly additional: readonly DnsRecord[];
  /** Why rcode is null, for a person (`forwarded upstream by CoreDNS`). Not part of the JSON contract. */
  readonly unknownBecause?: string;
}

/** NOERROR with at least one record: what makes glibc's resolver stop searching (res_query.c). */
export function hasAnswer(r: DnsResponse): boolean {
  return r.rcode === 'NOERROR' && r.answers.length > 0;
}
