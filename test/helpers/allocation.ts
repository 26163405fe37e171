/**
 * How many bytes of the JavaScript heap a piece of code allocated: what the "no allocation per
 * packet" laws measure.
 */
import { GCProfiler, getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
// A context made after the flag has `gc`: a full collection before each measurement, so that what
// an earlier phase left behind is not freed inside the window and counted.
const collect = runInNewContext('gc') as () => void;

/**
 * The heap's spaces that hold objects: not the JIT's code spaces, which grow whenever a
 * compilation finishes (on a loaded machine, in whichever window it lands) and are not what code
 * allocates.
 */
const isObjectSpace = (name: string): boolean => !name.startsWith('code_') && name !== 'read_only_space';

function usedOf(spaces: readonly { spaceName?: string; space_name?: string; spaceUsedSize?: number; space_used_size?: number }[]): number {
  let used = 0;
  for (const s of spaces) if (isObjectSpace(s.spaceName ?? s.space_name!)) used += s.spaceUsedSize ?? s.space_used_size!;
  return used;
}

/**
 * Bytes the JavaScript heap's object spaces took while `fn` ran, whatever the collector did
 * meanwhile: their growth plus what every GC in between freed from them (v8.GCProfiler reports
 * each GC's spaces before and after it, synchronously). The used size alone undercounts as soon
 * as a scavenge runs, and when one runs depends on the machine's load.
 */
export function allocatedBy(fn: () => void): number {
  collect();
  const profiler = new GCProfiler();
  const before = usedOf(getHeapSpaceStatistics());
  profiler.start();
  fn();
  const gcs = profiler.stop()?.statistics ?? [];
  const after = usedOf(getHeapSpaceStatistics());
  let freed = 0;
  for (const gc of gcs) freed += usedOf(gc.beforeGC.heapSpaceStatistics) - usedOf(gc.afterGC.heapSpaceStatistics);
  return after - before + freed;
}
