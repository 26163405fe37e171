/**
 * A traced packet as pcapng a person can read in Wireshark: each frame on the interface it was
 * seen on (the pod's eth0, its cali…/veth…, cbr0, vxlan.calico / tunl0 / flannel.1, the node's
 * eth0), one interface description per interface and node, and the hop (node, where, what
 * happened) as the packet's comment. A hop that is not an interface (a netfilter hook, routing's
 * decision) is seen on the interface the packet is on at that moment: the one it came in on, or
 * for the node's own packet before routing, the one it leaves by.
 */
import { writePcapng, type PcapngInterface, type PcapngPacket } from '../net/pcapng.js';
import type { CapturedFrame, TraceHop } from './trace-recorder.js';

/** Interface names kdp's pipeline records as a hop's place. */
const kInterface = /^(eth0|cbr0|cni0|vxlan\.calico|tunl0|flannel\.1|(?:cali|veth)[0-9a-f]+)$/;

interface Place {
  readonly key: string;
  readonly iface: PcapngInterface;
}

function nodeIface(node: string, name: string): Place {
  return { key: `${node}/${name}`, iface: { name, description: `${name} of node ${node}` } };
}

/** The interface a hop names, if it names one. */
function named(hop: TraceHop): Place | undefined {
  const at = hop.at;
  if (at === 'pod eth0' || at === 'pod socket') {
    const pod = hop.src.slice(0, hop.src.lastIndexOf(':'));
    return { key: `${hop.node}/pod ${pod}/eth0`, iface: { name: 'eth0', description: `eth0 of pod ${pod} on node ${hop.node}` } };
  }
  if (at === 'eth0 (from outside)') return nodeIface(hop.node, 'eth0');
  if (kInterface.test(at)) return nodeIface(hop.node, at);
  const dev = at === 'routing' ? / dev (\S+)/.exec(hop.action) : null;
  if (dev && kInterface.test(dev[1])) return nodeIface(hop.node, dev[1]);
  return undefined;
}

/** The pcapng file of a trace's captured frames (`kdp trace --pcap`). */
export function tracePcapng(hops: readonly TraceHop[], frames: readonly CapturedFrame[]): Uint8Array {
  const places = hops.map(named);
  // Hops that name no interface: the last interface on the same node before them, else the next.
  for (let h = 0; h < hops.length; h++) {
    if (places[h]) continue;
    let p: Place | undefined;
    for (let k = h - 1; k >= 0 && !p; k--) if (hops[k].node === hops[h].node) p = places[k];
    for (let k = h + 1; k < hops.length && !p; k++) if (hops[k].node === hops[h].node) p = named(hops[k]);
    places[h] = p ?? nodeIface(hops[h].node, 'eth0');
  }
  const index = new Map<string, number>();
  const interfaces: PcapngInterface[] = [];
  const packets: PcapngPacket[] = frames.map((f, k) => {
    const hop = hops[f.hop];
    const place = places[f.hop]!;
    let i = index.get(place.key);
    if (i === undefined) {
      i = interfaces.length;
      index.set(place.key, i);
      interfaces.push(place.iface);
    }
    return { iface: i, bytes: f.bytes, wireLen: f.wireLen, tsMicros: k * 1000, comment: `${hop.node} ${hop.at}: ${hop.action}` };
  });
  return writePcapng(interfaces, packets);
}
