/**
 * `ipset save` read back: each set's name, type and members, as ipsets.ts renders them (and as
 * ipset 7.x prints them: `create NAME TYPE [options...]`, then `add NAME MEMBER` lines). Sets of
 * other owners (Calico's `cali40…`, Docker's) are read alike; kdp uses kube-proxy's by name.
 * Throws RuleParseError naming the line.
 */
import { RuleParseError } from '../../errors.js';

export interface IpsetSave {
  readonly name: string;
  /** As `ipset save` prints it: `hash:ip,port`, `bitmap:port`, ... */
  readonly type: string;
  /** The `create` options after the type, as printed (`family inet hashsize 1024 ...`). */
  readonly options: string;
  /** Member strings as printed (`10.96.0.10,tcp:80`, `30080`), in file order. */
  readonly members: readonly string[];
  /** 1-based line of the `create`. */
  readonly line: number;
}

/** Every set of an `ipset save` (or `ipset list -o save`) text, in file order. */
export function parseIpsetSave(text: string): IpsetSave[] {
  const sets: { name: string; type: string; options: string; members: string[]; line: number }[] = [];
  const byName = new Map<string, (typeof sets)[number]>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    const n = i + 1;
    if (line === '' || line.startsWith('#')) continue;
    const words = line.split(/\s+/);
    if (words[0] === 'create' || words[0] === '-N' || words[0] === '-exist') {
      const w = words[0] === '-exist' ? words.slice(1) : words;
      if (w.length < 3) throw new RuleParseError(`"create" needs a set name and a type, as in "create KUBE-CLUSTER-IP hash:ip,port family inet"`, n);
      if (byName.has(w[1])) throw new RuleParseError(`set ${w[1]} is created twice`, n);
      const set = { name: w[1], type: w[2], options: w.slice(3).join(' '), members: [], line: n };
      sets.push(set);
      byName.set(set.name, set);
    } else if (words[0] === 'add' || words[0] === '-A') {
      if (words.length < 3) throw new RuleParseError(`"add" needs a set name and a member, as in "add KUBE-CLUSTER-IP 10.96.0.10,tcp:80"`, n);
      const set = byName.get(words[1]);
      if (!set) throw new RuleParseError(`set ${words[1]} gets a member before its "create" line`, n);
      // Per-member extensions (timeout, comment, counters) follow the member; the member is the first word.
      set.members.push(words[2]);
    } else {
      throw new RuleParseError(`expected "create" or "add" (ipset save output), found "${words[0]}"`, n);
    }
  }
  return sets;
}
