/**
 * How many bytes of the JavaScript heap a piece of code allocated: what the "no allocation per
 * packet" laws measure.
 */
import { GCProfiler, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
// A context made after the flag has `gc`: a full collection before each measurement, so that what
// an earlier phase left behind is not freed inside the window and counted.
const collect = runInNewContext('gc') as () => void;

/**
 * Bytes the JavaScript heap allocated while `fn` ran, whatever the collector did meanwhile: the
 * growth of the used heap plus what every GC in between freed (v8.GCProfiler reports each GC's
 * used heap before and after it, synchronously). heapUsed alone undercounts as soon as a
 * scavenge runs, and when one runs depends on the machine's load.
 */
export function allocatedBy(fn: () => void): number {
  collect();
  const profiler = new GCProfiler();
  const before = getHeapStatistics().used_heap_size;
  profiler.start();
  fn();
  const gcs = profiler.stop()?.statistics ?? [];
  const after = getHeapStatistics().used_heap_size;
  let freed = 0;
  for (const gc of gcs) freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
  return after - before + freed;
}
