/**
 * An iptables dataplane's compiled tables as plain data, for a worker thread to attach to: the
 * ruleset's typed arrays and names, the decide() scan's keys, the hooks' entry chains, the
 * node's local addresses, which rules are a Service's ACCEPT, and the room in-place updates write into (with its seqlock word, so
 * that a worker sees an update written through any dataplane over the same image).
 * The `-m recent` lists and the walker's stacks are per instance and never shared.
 */
import { IptablesDataplane } from './dataplane.js';
import type { Hooks } from './hooks.js';
import type { IptablesRoom } from './room.js';
import { Ruleset, type RulesetFields, type ScanKeys } from './ruleset.js';

export interface IptablesShared {
  readonly node: number;
  readonly rules: RulesetFields;
  readonly scanKeys: ScanKeys;
  readonly hooks: Hooks;
  readonly localAddrs: Uint32Array;
  readonly room: IptablesRoom | undefined;
  readonly serviceAccept: Uint8Array;
}

export function iptablesShared(dp: IptablesDataplane): IptablesShared {
  return { node: dp.node, rules: dp.rules.sharedFields(), scanKeys: dp.scanKeys, hooks: dp.hooks, localAddrs: dp.localAddrs, room: dp.room, serviceAccept: dp.serviceAccept };
}

export function iptablesFromShared(s: IptablesShared): IptablesDataplane {
  return new IptablesDataplane(Ruleset.fromSharedFields(s.rules), { node: s.node, localAddresses: Array.from(s.localAddrs), scanKeys: s.scanKeys, hooks: s.hooks, serviceAccept: s.serviceAccept, ...(s.room ? { room: s.room } : {}) });
}

/**
 * A dataplane over copies of `dp`'s tables (and its own seqlock word), which an in-place update
 * writes without any reader of `dp`'s seeing it: sync.ts counts what kube-proxy would write for a
 * change over such a copy. Cost: one copy of every table, ~0.6 s at 30k Services.
 */
export function iptablesCopy(dp: IptablesDataplane): IptablesDataplane {
  return iptablesFromShared(copied(iptablesShared(dp)));
}

/** Typed arrays and arrays copied, records copied field by field; anything else is kept. */
function copied<T>(v: T): T {
  if (ArrayBuffer.isView(v)) return (v as unknown as Uint8Array).slice() as T;
  if (Array.isArray(v)) return v.slice() as T;
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copied(x)])) as T;
  }
  return v;
}
