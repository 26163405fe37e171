/**
 * The one entry point to the proxy modes: find a mode by name, compile a node's rules, print
 * them in a mode's own formats. The modes themselves are records (mode.ts), listed in modes.ts.
 */
import { InvalidArgumentError } from '../errors.js';
import type { Cluster, ModeName } from '../model/types.js';
import type { ServiceDataplane } from './dataplane.js';
import type { ProxyMode } from './mode.js';
import { kModes } from './modes.js';

export { kModes };

/** Modes registered besides kModes (a test's own mode); none in the CLI. */
const extra: ProxyMode[] = [];

/** Every mode kdp knows, in kModes' order, then any registered with `registerMode`. */
export function allModes(): readonly ProxyMode[] {
  return extra.length === 0 ? kModes : [...kModes, ...extra];
}

export function modeNames(): readonly ModeName[] {
  return allModes().map((m) => m.name);
}

/**
 * Adds a mode for this thread (a test's own mode, to prove that a mode is one folder and one
 * record). The CLI and the replay workers know only kModes.
 */
export function registerMode(mode: ProxyMode): void {
  if (allModes().some((m) => m.name === mode.name)) throw new InvalidArgumentError(`a mode named ${mode.name} is registered already`);
  extra.push(mode);
}

export function findMode(name: string): ProxyMode | undefined {
  return allModes().find((m) => m.name === name);
}

/** The mode named `name`, or an InvalidArgumentError that lists the modes there are. */
export function modeNamed(name: string): ProxyMode {
  const mode = findMode(name);
  if (!mode) throw new InvalidArgumentError(`mode must be one of ${modeNames().join(', ')}, not ${JSON.stringify(name)}`);
  return mode;
}

/** The mode a cluster file's KubeProxyConfiguration asks for; '' (unset) is kube-proxy's default. */
export function modeOf(cluster: Cluster): ProxyMode {
  const name = cluster.proxy.mode;
  if (name === '') return kModes[0];
  const mode = findMode(name);
  if (!mode) {
    throw new InvalidArgumentError(`the cluster's KubeProxyConfiguration says mode ${JSON.stringify(name)}, which kdp does not have (it has ${modeNames().join(', ')}); give --mode`);
  }
  return mode;
}

/** Compiles `cluster`'s Services for `node` in the mode named `mode`. */
export function compileDataplane(cluster: Cluster, mode: ModeName, node: number): ServiceDataplane {
  if (!Number.isInteger(node) || node < 0 || node >= cluster.nodes.length) {
    throw new InvalidArgumentError(`node must be an index of the cluster's nodes (0-${cluster.nodes.length - 1}), not ${node}`);
  }
  return modeNamed(mode).compile(cluster, node);
}

/** The text formats a mode prints, the first being its default. */
export function formatsOf(mode: ProxyMode): readonly string[] {
  return Object.keys(mode.formats);
}

/**
 * A real node's dump in `format`, read by the first mode that reads that format (iptables mode
 * reads `iptables-save`), into that mode's dataplane. See ProxyMode.parsers.
 */
export function parseRules(format: string, text: string, cluster?: Cluster, node?: number): ServiceDataplane {
  const mode = allModes().find((m) => m.parsers !== undefined && Object.hasOwn(m.parsers, format));
  if (!mode) throw new InvalidArgumentError(`no mode reads ${format}; modes read ${allModes().flatMap((m) => Object.keys(m.parsers ?? {})).join(', ')}`);
  return mode.parsers![format](text, cluster, node);
}

/**
 * A node's rules in the text the mode's own tools print (`iptables-save`, `ipvsadm -S -n`,
 * `ipset save`, `nft list table ip kube-proxy`), so a user can diff kdp against a real node.
 */
export function renderRules(cluster: Cluster, mode: ModeName, node: number, format: string): string {
  const text = renderRuleChunks(cluster, mode, node, format);
  return Array.isArray(text) && text.length === 1 ? (text[0] as string) : [...text].join('');
}

/** The same text in chunks, to be written out as it is made (`kdp compile`): never one giant string. */
export function renderRuleChunks(cluster: Cluster, mode: ModeName, node: number, format: string): Iterable<string> {
  const m = modeNamed(mode);
  const render = Object.hasOwn(m.formats, format) ? m.formats[format] : undefined;
  if (!render) throw new InvalidArgumentError(`${m.name} mode prints ${formatsOf(m).join(', ')}, not ${format}`);
  const text = render(cluster, node);
  return typeof text === 'string' ? [text] : text;
}
