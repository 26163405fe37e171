/**
 * A Service port's hashed object names, kept with the port as kube-proxy keeps them: it hashes a
 * port's chain names when it first sees the port (newServiceInfo) and an endpoint's when it first
 * sees the endpoint (newEndpointInfo: the endpoint info's chain name), in pkg/proxy/iptables and
 * pkg/proxy/nftables proxier.go alike (Kubernetes v1.33), never in syncProxyRules. So a compile of
 * a cluster compiled before (the other node, a repeat of the full build, the cluster with one
 * endpoint changed) hashes nothing again.
 *
 * Each mode keeps its own memo, keyed by the model's ServicePort object (a cluster derived from
 * another shares the ports it did not change); an entry holds while the port's name text is the
 * same, and a row's name while that row's address and port are (a churned endpoint table reuses
 * rows). Cost: a WeakMap get per port and two compares per row.
 */
import type { ServicePort } from '../model/types.js';

export class PortNameMemo<Names> {
  readonly #rows: (string | undefined)[] = [];
  /** Each named row's address and port, two numbers a row (the name's input besides `text`). */
  readonly #keys: number[] = [];

  constructor(
    /** What the port's names hash: kube-proxy's service port name (with the protocol, as each mode writes it). */
    readonly text: string,
    /** The port's own names (its service chains). */
    readonly service: Names,
    private readonly hashRow: (text: string, ip: number, port: number) => string,
  ) {}

  /** The name of the port's `offset`-th endpoint row, which holds `ip`:`port`. */
  endpoint(offset: number, ip: number, port: number): string {
    const name = this.#rows[offset];
    if (name !== undefined && this.#keys[2 * offset] === ip && this.#keys[2 * offset + 1] === port) return name;
    this.#keys[2 * offset] = ip;
    this.#keys[2 * offset + 1] = port;
    return (this.#rows[offset] = this.hashRow(this.text, ip, port));
  }
}

/** The port's entry in `memo` for `text`, made (its service names hashed) when it has none for that text. */
export function portNameMemo<Names>(memo: WeakMap<ServicePort, PortNameMemo<Names>>, port: ServicePort, text: string, service: (text: string) => Names, hashRow: (text: string, ip: number, port: number) => string): PortNameMemo<Names> {
  let entry = memo.get(port);
  if (entry === undefined || entry.text !== text) memo.set(port, (entry = new PortNameMemo(text, service(text), hashRow)));
  return entry;
}
