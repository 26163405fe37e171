/**
 * Law: the queries kdp's resolver sends for a name are those an independent implementation of
 * the resolv.conf search rules sends (resolv.conf(5) `search` and `ndots`, glibc res_query.c),
 * for any search list, any ndots, any name, and any server answers (NOERROR with records,
 * NODATA, NXDOMAIN, SERVFAIL, REFUSED, or unknown), asked for A alone or A and AAAA together.
 *
 * The oracle below plans the candidate names first and walks them after, where the code under
 * test follows glibc's control flow; they share nothing but the message types.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { searchQueries, type DnsResponse, type QueryType } from '../../src/dns/index.js';
import { runs } from '../helpers/nat-assertions.js';

type Kind = 'answer' | 'nodata' | 'nxdomain' | 'servfail' | 'refused' | 'unknown';
const kKinds: readonly Kind[] = ['answer', 'nodata', 'nxdomain', 'servfail', 'refused', 'unknown'];

function response(kind: Kind, qname: string): DnsResponse {
  switch (kind) {
    case 'answer':
      return { rcode: 'NOERROR', answers: [{ name: qname, type: 'A', ttl: 5, data: '10.0.0.1' }], additional: [] };
    case 'nodata':
      return { rcode: 'NOERROR', answers: [], additional: [] };
    case 'nxdomain':
      return { rcode: 'NXDOMAIN', answers: [], additional: [] };
    case 'servfail':
      return { rcode: 'SERVFAIL', answers: [], additional: [] };
    case 'refused':
      return { rcode: 'REFUSED', answers: [], additional: [] };
    case 'unknown':
      return { rcode: null, answers: [], additional: [] };
  }
}

/** A server: each (qname, qtype) gets a kind from a table drawn by fast-check, by a string hash. */
function server(table: readonly Kind[]) {
  return (qname: string, qtype: QueryType): DnsResponse => {
    let h = 7;
    for (const ch of `${qname} ${qtype}`) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    return response(table[h % table.length], qname);
  };
}

/**
 * The rules, planned: an absolute name is its one candidate; else the name as it is goes first
 * when it has ndots dots or more, and last otherwise unless a `.` search domain was asked (glibc
 * sets root_on_list only on reaching it); each search domain gives `name.domain` (`.` gives the
 * name). Walking: a candidate with a record in
 * either response answers; an unknown response ends everything; after a search candidate that
 * failed with anything but NXDOMAIN, NODATA or SERVFAIL the remaining search candidates are
 * skipped, not the name as it is.
 */
function oracle(searches: readonly string[], ndots: number, name: string, qtypes: readonly QueryType[], ask: ReturnType<typeof server>): string[] {
  const absolute = name.endsWith('.');
  const root = absolute ? name.slice(0, -1) : name;
  const dotCount = name.split('.').length - 1;
  type Candidate = { qname: string; fromSearch: boolean; root?: boolean; lastAsIs?: boolean };
  const plan: Candidate[] = [];
  if (absolute) plan.push({ qname: root, fromSearch: false });
  else {
    const listed = searches.map((d) => {
      const dom = d.startsWith('.') ? d.slice(1) : d;
      return { qname: dom === '' ? root : `${root}.${dom.replace(/\.$/, '')}`, fromSearch: true, root: dom === '' };
    });
    if (dotCount >= ndots) plan.push({ qname: root, fromSearch: false }, ...listed);
    else plan.push(...listed, { qname: root, fromSearch: false, lastAsIs: true });
  }
  const sent: string[] = [];
  let skipSearch = false;
  let rootAsked = false;
  for (const c of plan) {
    if (c.fromSearch && skipSearch) continue;
    if (c.lastAsIs && rootAsked) continue;
    if (c.root) rootAsked = true;
    const rs = qtypes.map((t) => {
      sent.push(`${c.qname}. ${t}`);
      return ask(`${c.qname}.`, t);
    });
    if (rs.some((r) => r.rcode === 'NOERROR' && r.answers.length > 0)) break;
    if (rs.some((r) => r.rcode === null)) break;
    if (absolute) break;
    const deciding = rs.length === 2 && rs[0].rcode === 'NOERROR' ? rs[1].rcode : rs[0].rcode;
    if (c.fromSearch && !['NOERROR', 'NXDOMAIN', 'SERVFAIL'].includes(deciding!)) skipSearch = true;
  }
  return sent;
}

const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,5}$/);
const domain = fc.oneof(
  { weight: 8, arbitrary: fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.')) },
  { weight: 1, arbitrary: fc.constant('.') },
  { weight: 1, arbitrary: fc.array(label, { minLength: 1, maxLength: 2 }).map((ls) => `${ls.join('.')}.`) },
);
const nameArb = fc.tuple(fc.array(label, { minLength: 1, maxLength: 7 }), fc.boolean()).map(([ls, dot]) => `${ls.join('.')}${dot ? '.' : ''}`);

test('law: the query sequence equals an independent implementation of the resolv.conf search rules', () => {
  fc.assert(
    fc.property(
      fc.array(domain, { maxLength: 6 }),
      fc.integer({ min: 0, max: 15 }),
      nameArb,
      fc.boolean(),
      fc.array(fc.constantFrom(...kKinds), { minLength: 1, maxLength: 12 }),
      (searches, ndots, name, both, table) => {
        // Arrange
        const qtypes: QueryType[] = both ? ['A', 'AAAA'] : ['A'];
        const ask = server(table);
        // Act
        const got = searchQueries({ searches, ndots }, name, qtypes, ask).queries.map((q) => `${q.qname} ${q.qtype}`);
        // Assert
        assert.deepEqual(got, oracle(searches, ndots, name, qtypes, ask), `search ${searches.join(' ')} ndots:${ndots} name ${name}`);
      },
    ),
    { numRuns: runs(500) },
  );
});

test('law guard: the generator reaches every branch the law is about', () => {
  // A law whose inputs never exercise a rule cannot catch its mutation; count the shapes seen.
  const seen = new Set<string>();
  fc.assert(
    fc.property(fc.array(domain, { maxLength: 6 }), fc.integer({ min: 0, max: 15 }), nameArb, fc.array(fc.constantFrom(...kKinds), { minLength: 1, maxLength: 12 }), (searches, ndots, name, table) => {
      const r = searchQueries({ searches, ndots }, name, ['A', 'AAAA'], server(table));
      const dots = name.split('.').length - 1;
      if (name.endsWith('.')) seen.add('absolute');
      else if (dots >= ndots) seen.add('as-is first');
      else seen.add('search first');
      if (searches.includes('.')) seen.add('root on list');
      if (r.stoppedUnknown) seen.add('unknown');
      if (r.queries.some((q) => q.response.rcode === 'REFUSED') && r.answeredAt < 0) seen.add('refused');
      if (r.answeredAt > 0) seen.add('answered after a miss');
    }),
    { numRuns: 500, seed: 16 },
  );
  assert.deepEqual([...seen].sort(), ['absolute', 'answered after a miss', 'as-is first', 'refused', 'root on list', 'search first', 'unknown']);
});
