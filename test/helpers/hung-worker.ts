/**
 * A replay worker that hangs, for the watchdog's tests: a cell of exactly 13 Services never
 * returns (a busy loop after one heartbeat, as a worker stuck in a loop would); every other cell
 * is the real worker's.
 */
import replayWorker, { type WorkerResult, type WorkerTask } from '../../src/replay/worker.js';

export const kHangingServices = 13;

export default function hungWorker(task: WorkerTask): WorkerResult {
  if (task.services === kHangingServices) {
    task.heartbeat?.postMessage(0);
    for (;;) {
      // stuck: no heartbeat, no result
    }
  }
  return replayWorker(task);
}
