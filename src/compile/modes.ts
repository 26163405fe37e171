/**
 * The proxy modes kdp compiles: one record each, from its folder. Everything that takes a
 * `--mode` (the pipeline, `kdp trace`, `kdp compile`, `kdp verify`, the benchmark) finds the mode
 * here and never names one. Adding a mode is its folder plus one line in this list.
 */
import { ciliumMode } from './cilium/index.js';
import { iptablesMode } from './iptables/index.js';
import { ipvsMode } from './ipvs/index.js';
import type { ProxyMode } from './mode.js';
import { nftablesMode } from './nftables/index.js';
import { userspaceMode } from './userspace/index.js';

/** In the order the sweep runs and the report lists them; the first is kube-proxy's default on Linux. */
export const kModes: readonly ProxyMode[] = [iptablesMode, ipvsMode, nftablesMode, userspaceMode, ciliumMode];
