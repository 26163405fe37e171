/**
 * The queries a glibc stub resolver sends for one name, in order (glibc resolv/res_query.c,
 * __res_context_search and __res_context_query, unchanged in substance from 2.26 to 2.40):
 *
 * 1. A name ending in a dot is absolute: asked as it is, once, whatever the answer.
 * 2. A name with at least `ndots` dots is asked as it is first; an answer ends the lookup.
 * 3. Then each search domain in turn (`name.domain`). After NXDOMAIN, NODATA (NOERROR with no
 *    record) or SERVFAIL the next domain is tried; any other failure (REFUSED, NOTIMP, FORMERR)
 *    ends the search list. A search domain of `.` means the name itself.
 * 4. Last, the name as it is, unless it was already asked (step 2) or `.` was on the list.
 *
 * getaddrinfo (no --type) asks A and AAAA for each candidate name together (T_QUERY_A_AND_AAAA,
 * both sent in parallel on one socket); the list writes A first. The candidate answers when
 * either response is NOERROR with at least one record: an IPv4 Service's AAAA NODATA does not stop
 * the A answer being used. When both fail, glibc classifies the pair by the first response's
 * RCODE unless it is NOERROR, then by the second's: NOERROR (NODATA on both) and NXDOMAIN keep
 * searching, so a name that exists with no record of the type does not end the search.
 *
 * In glibc's words (__res_context_query): the pair fails only when `(hp->rcode != NOERROR ||
 * ancount == 0) && (hp2->rcode != NOERROR || hp2->ancount == 0)`, and __res_context_search's
 * loop then says "On a NO_DATA error, keep trying, otherwise a wildcard entry of another type
 * could keep us from finding this entry higher in the domain."
 *
 * This is glibc's resolver (Debian, Ubuntu, RHEL images). Other stub resolvers differ (musl, in
 * Alpine images, ends the search at a NODATA answer: its name_from_dns_search returns on any
 * nonzero result, EAI_NODATA included); kdp models glibc.
 *
 * A response kdp cannot know (rcode null: forwarded outside the cluster) ends the list there,
 * since what glibc does next depends on it.
 */
import { hasAnswer, type DnsResponse, type QueryType } from './message.js';

export interface SearchSettings {
  readonly searches: readonly string[];
  readonly ndots: number;
}

export interface SentQuery {
  /** Absolute, as it goes on the wire. */
  readonly qname: string;
  readonly qtype: QueryType;
  readonly response: DnsResponse;
}

export interface SearchResult {
  readonly queries: readonly SentQuery[];
  /** Index in `queries` of the first query of the candidate that answered; -1 when none did. */
  readonly answeredAt: number;
  /** Whether the list stopped at an answer kdp does not know. */
  readonly stoppedUnknown: boolean;
}

export type AskServer = (qname: string, qtype: QueryType) => DnsResponse;

type Outcome = 'answer' | 'unknown' | 'keep-searching' | 'stop-searching';

/** The queries for `name` under `settings`, each answered by `ask`, until one answers. */
export function searchQueries(settings: SearchSettings, name: string, qtypes: readonly QueryType[], ask: AskServer): SearchResult {
  const queries: SentQuery[] = [];
  const trailingDot = name.endsWith('.');
  const base = trailingDot ? name.slice(0, -1) : name;
  const dots = (name.match(/\./g) ?? []).length;
  const result = (answeredAt: number, stoppedUnknown = false): SearchResult => ({ queries, answeredAt, stoppedUnknown });

  const tryName = (candidate: string): Outcome => {
    const first = queries.length;
    for (const qtype of qtypes) queries.push({ qname: `${candidate}.`, qtype, response: ask(`${candidate}.`, qtype) });
    const responses = queries.slice(first).map((q) => q.response);
    if (responses.some(hasAnswer)) return 'answer';
    if (responses.some((r) => r.rcode === null)) return 'unknown';
    const rcode = responses[0].rcode === 'NOERROR' && responses.length > 1 ? responses[1].rcode : responses[0].rcode;
    return rcode === 'NOERROR' || rcode === 'NXDOMAIN' || rcode === 'SERVFAIL' ? 'keep-searching' : 'stop-searching';
  };
  const ended = (outcome: Outcome, first: number): SearchResult | undefined =>
    outcome === 'answer' ? result(first) : outcome === 'unknown' ? result(-1, true) : undefined;

  let triedAsIs = false;
  if (dots >= settings.ndots || trailingDot) {
    const first = queries.length;
    const outcome = tryName(base);
    if (trailingDot) return outcome === 'answer' ? result(first) : result(-1, outcome === 'unknown');
    const done = ended(outcome, first);
    if (done) return done;
    triedAsIs = true;
  }

  let rootOnList = false;
  for (const domain of settings.searches) {
    const d = domain.replace(/^\./, '').replace(/\.$/, '');
    if (d === '') rootOnList = true;
    const first = queries.length;
    const outcome = tryName(d === '' ? base : `${base}.${d}`);
    const done = ended(outcome, first);
    if (done) return done;
    if (outcome === 'stop-searching') break;
  }

  if (!triedAsIs && !rootOnList) {
    const first = queries.length;
    const done = ended(tryName(base), first);
    if (done) return done;
  }
  return result(-1);
}
