/**
 * The lifeline between `kdp verify` and the helper programs it runs inside its namespaces (the
 * responders, the probe agents, the kernel baseline's sender): the parent passes every child one
 * end of a socket pair as fd 3 and never writes to it. When the parent ends, however it ends
 * (SIGKILL included), the kernel closes its end and the child reads end-of-file, so the child
 * dies with its parent at once instead of when a timer says so. `ip netns exec` execs the program
 * with its descriptors, so fd 3 reaches it unchanged.
 */
import { fstatSync } from 'node:fs';
import net from 'node:net';

/** The child's descriptor number of the lifeline (stdio index 3 of the spawn). */
export const kLifelineFd = 3;

/**
 * Called first by a helper program: exits (status 129, as after SIGHUP) when the parent's end of
 * the lifeline closes. Without fd 3 (the program started by hand) it does nothing.
 */
export function dieWithParent(): void {
  let isSocket = false;
  try {
    const st = fstatSync(kLifelineFd);
    isSocket = st.isSocket() || st.isFIFO();
  } catch {
    return; // no fd 3
  }
  if (!isSocket) return;
  const line = new net.Socket({ fd: kLifelineFd, readable: true, writable: false });
  const die = (): never => process.exit(129);
  line.on('end', die);
  line.on('close', die);
  line.on('error', die);
  line.resume();
  // The lifeline alone must not keep a finished helper alive.
  line.unref();
}
