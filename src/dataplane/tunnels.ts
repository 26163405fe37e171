/**
 * The overlay tunnels between nodes, one per (from, to) pair of the pod network plan: the outer
 * addresses are the two nodes' underlay addresses, the VNI the CNI's. A tunnel carries the outer
 * IPv4 ID counter, so it is state of the context that sends through it, made on first use; the
 * encap stage finds it by `from * nodes + to` in an array, not by a hashed key.
 */
import { ipipTunnel, type IpipTunnel } from '../net/ipip.js';
import { vxlanTunnel, type VxlanTunnel } from '../net/vxlan.js';
import type { PodNetworkPlan } from './pod-network.js';

export class Tunnels {
  readonly #plan: PodNetworkPlan;
  readonly #nodes: number;
  readonly #vxlan: (VxlanTunnel | undefined)[];
  readonly #ipip: (IpipTunnel | undefined)[];

  constructor(plan: PodNetworkPlan) {
    this.#plan = plan;
    this.#nodes = plan.nodes.length;
    this.#vxlan = new Array(this.#nodes * this.#nodes);
    this.#ipip = new Array(this.#nodes * this.#nodes);
  }

  vxlan(from: number, to: number): VxlanTunnel {
    const k = from * this.#nodes + to;
    let t = this.#vxlan[k];
    if (!t) {
      const nodes = this.#plan.nodes;
      t = vxlanTunnel({ srcIp: nodes[from].primaryIp, dstIp: nodes[to].primaryIp, vni: this.#plan.vni });
      this.#vxlan[k] = t;
    }
    return t;
  }

  ipip(from: number, to: number): IpipTunnel {
    const k = from * this.#nodes + to;
    let t = this.#ipip[k];
    if (!t) {
      const nodes = this.#plan.nodes;
      t = ipipTunnel({ srcIp: nodes[from].primaryIp, dstIp: nodes[to].primaryIp });
      this.#ipip[k] = t;
    }
    return t;
  }
}
