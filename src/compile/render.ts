/**
 * Every mode's tables in the text its own tools print, so a user can diff kdp against a real
 * node: `iptables-save`, `ipvsadm -S -n`, `ipset save`, `nft list table ip kube-proxy`.
 */
import { InvalidArgumentError } from '../errors.js';
import type { Cluster, ProxyMode } from '../model/types.js';
import { compileRuleset, renderIptablesSave } from './iptables/index.js';
import { compileIpvs, renderIpsetSave, renderIpvsadmSave, renderIpvsIptablesSave } from './ipvs/index.js';
import { buildRuleset, renderRuleset } from './nftables/index.js';
import { compileUserspace, renderUserspaceIptablesSave } from './userspace/index.js';

export type RuleFormat = 'iptables-save' | 'ipvsadm' | 'ipset' | 'nft';

/** The formats each mode can print, the first being its default. */
export const kFormatsOf: Readonly<Record<ProxyMode, readonly RuleFormat[]>> = {
  iptables: ['iptables-save'],
  ipvs: ['ipvsadm', 'ipset', 'iptables-save'],
  nftables: ['nft'],
  userspace: ['iptables-save'],
};

export function renderRules(cluster: Cluster, mode: ProxyMode, node: number, format: RuleFormat): string {
  if (!kFormatsOf[mode].includes(format)) {
    throw new InvalidArgumentError(`${mode} mode prints ${kFormatsOf[mode].join(', ')}, not ${format}`);
  }
  switch (mode) {
    case 'iptables':
      return renderIptablesSave(compileRuleset(cluster, { node }));
    case 'nftables':
      return renderRuleset(buildRuleset(cluster, { node }));
    case 'userspace':
      return renderUserspaceIptablesSave(compileUserspace(cluster, { node }));
    case 'ipvs': {
      const dp = compileIpvs(cluster, { node });
      return format === 'ipvsadm' ? renderIpvsadmSave(dp) : format === 'ipset' ? renderIpsetSave(dp) : renderIpvsIptablesSave(dp);
    }
  }
}
