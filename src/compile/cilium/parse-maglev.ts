/**
 * `cilium-dbg bpf lb maglev list` read back (Cilium v1.17, cilium-dbg/cmd/bpf_lb_maglev_list.go):
 * TablePrinter's `SVC ID  LOOKUP TABLE` header, then one `[revnat]/v4  [id id ...]` row per
 * service with a Maglev table, in Go's map order (any order), each table the backend IDs as Go
 * prints a slice (lbmap MaglevInnerMap.DumpBackends). The listing holds nothing but those tables:
 * the frontends, their backends and backend IDs come from the cluster (the node's maps as kdp
 * compiles them), and the listing's tables replace the computed ones. Backend IDs are the node's
 * own allocation; kdp numbers backends in order of first use, so a real node's dump is read
 * against that numbering (a table naming an ID that is none of its service's backends is refused).
 */
import { RuleParseError } from '../../errors.js';
import type { CiliumConfig, Cluster } from '../../model/types.js';
import { compileCiliumTables } from './build.js';
import { kMaglevEmpty } from './maglev.js';
import { frontendText } from './render.js';
import { feCount, feMaglev, feRevNat, feSlotStart, slotBackend, type CiliumTables } from './tables.js';

const kRow = /^\[(\d+)\]\/(v4|v6)\s+\[([0-9 ]*)\]\s*$/;

export function parseMaglevList(text: string, cluster: Cluster, node: number, config: CiliumConfig): CiliumTables {
  const lines = text.split('\n');
  if (!/^SVC ID\s+LOOKUP TABLE\s*$/.test(lines[0] ?? '')) {
    throw new RuleParseError('expected the header "SVC ID   LOOKUP TABLE" of `cilium-dbg bpf lb maglev list`', 1);
  }
  const t = compileCiliumTables(cluster, node, config);
  // rev-NAT index -> the frontend whose Maglev table it names (only routable external-scope frontends have one).
  const byRevNat = new Map<number, number>();
  for (let f = 0; f < t.frontends; f++) if (feRevNat(t, f) !== 0 && feMaglev(t, f) >= 0) byRevNat.set(feRevNat(t, f), f);
  const seen = new Map<number, number>();
  const m = t.maglevSize;
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n];
    if (line.trim() === '') continue;
    const lineNo = n + 1;
    const row = kRow.exec(line);
    if (!row) throw new RuleParseError(`expected "[revnat]/v4   [backend IDs]", got ${JSON.stringify(line.trim())}`, lineNo);
    if (row[2] === 'v6') throw new RuleParseError(`[${row[1]}]/v6: kdp models IPv4 only`, lineNo);
    const revNat = Number(row[1]);
    const f = byRevNat.get(revNat);
    if (f === undefined) {
      throw new RuleParseError(
        config.lbAlgorithm === 'maglev'
          ? `service ${revNat} has no Maglev table on this node (no routable frontend of the cluster has rev-NAT index ${revNat})`
          : `a Maglev table, but the cluster's cilium-config has bpf-lb-algorithm ${config.lbAlgorithm}; set it to maglev`,
        lineNo,
      );
    }
    const earlier = seen.get(revNat);
    if (earlier !== undefined) throw new RuleParseError(`a second table for service ${revNat} (the first is on line ${earlier})`, lineNo);
    seen.set(revNat, lineNo);
    const ids = row[3].trim() === '' ? [] : row[3].trim().split(/ +/).map(Number);
    if (ids.length !== m) {
      throw new RuleParseError(`service ${revNat}'s table has ${ids.length} entries, but bpf-lb-maglev-table-size is ${m}; give the cluster the node's cilium-config`, lineNo);
    }
    // A table may only name the service's own active backends (the ones Maglev fills it with); with none, every slot is empty.
    const own = new Set<number>();
    for (let k = 0; k < feCount(t, f); k++) own.add(slotBackend(t, feSlotStart(t, f) + k));
    if (own.size === 0) own.add(kMaglevEmpty);
    const lut = feMaglev(t, f);
    for (let k = 0; k < m; k++) {
      if (!own.has(ids[k])) {
        throw new RuleParseError(
          `backend ID ${ids[k]} in service ${revNat}'s table (entry ${k}) is none of ${frontendText(t, f)}'s backends (IDs ${[...own].join(', ') || 'none'} as kdp numbers them)`,
          lineNo,
        );
      }
      t.maglev[lut + k] = ids[k];
    }
  }
  for (const [revNat, f] of byRevNat) {
    if (!seen.has(revNat)) throw new RuleParseError(`the listing ends without a table for service ${revNat} (${frontendText(t, f)})`, lines.length);
  }
  return t;
}
