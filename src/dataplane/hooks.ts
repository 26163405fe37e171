/** Where a packet meets netfilter first on a node. */
export const kHookNames = ['PREROUTING', 'OUTPUT'] as const;
export { HOOK_OUTPUT, HOOK_PREROUTING } from '../compile/dataplane.js';
