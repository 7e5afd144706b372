// The open-loop client's pacemaker, in a worker thread of its own. It sleeps until each request's planned
// send time with Atomics.wait, which wakes within tens of microseconds (Node's timers have a resolution
// of a whole millisecond, which at 1000 orders/s would add up to 1 ms to every latency, and spinning
// instead would take a core the server needs), then wakes the client's event loop with the index due.

import { isMainThread, parentPort } from 'node:worker_threads';

export interface TickerStart {
  /** process.hrtime.bigint() of request 0: the monotonic clock is the same in every thread. */
  startNs: bigint;
  rate: number;
  count: number;
}

/** When request `index` is planned, whatever happened to the requests before it. */
export function plannedNs(startNs: bigint, index: number, rate: number): bigint {
  return startNs + BigInt(Math.round((index * 1e9) / rate));
}

function tick({ startNs, rate, count }: TickerStart): void {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let index = 0; index < count; index++) {
    const due = plannedNs(startNs, index, rate);
    for (;;) {
      const remainingMs = Number(due - process.hrtime.bigint()) / 1e6;
      if (remainingMs <= 0) break;
      Atomics.wait(sleeper, 0, 0, remainingMs);
    }
    parentPort!.postMessage(index);
  }
}

// Imported by the client's main thread only for plannedNs(); the loop runs in the worker.
if (!isMainThread) parentPort!.once('message', (start: TickerStart) => tick(start));
