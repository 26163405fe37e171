/**
 * The settings of CoreDNS's `kubernetes` plugin that change answers, with the values of kubeadm's
 * Corefile (cmd/kubeadm/app/phases/addons/dns/manifests.go), the usual one:
 *
 *     kubernetes cluster.local in-addr.arpa ip6.arpa {
 *        pods insecure
 *        fallthrough in-addr.arpa ip6.arpa
 *        ttl 30
 *     }
 *     forward . /etc/resolv.conf
 *
 * The plugin's own defaults differ (plugin/kubernetes/kubernetes.go, CoreDNS 1.14.7: `podMode =
 * podModeDisabled`, `defaultTTL = 5`); a Corefile without those lines gets them.
 */
export interface CorednsSettings {
  /** `pods`: disabled (no pod records), insecure (any a-b-c-d name answers), verified (a pod must have the IP in that namespace). */
  readonly pods: 'disabled' | 'insecure' | 'verified';
  /** `ttl`, seconds, on every record the plugin writes. */
  readonly ttl: number;
}

export const kKubeadmCorefile: CorednsSettings = { pods: 'insecure', ttl: 30 };
