/**
 * First touch of a new table's memory. A fresh ArrayBuffer is zero pages the operating system
 * maps on first write, a page fault each (~1 µs with the zeroing), and two replay threads faulting
 * at once slowed each other more than their lookups ever did (cilium's new flows scaled 1.3x on
 * two workers while its socket tables faulted in during the run, 2x once they no longer did). The
 * kernel's tables are backed by memory from the start (nf_conntrack's hash is kvzalloc'd), so kdp
 * touches a table's every page when it makes it, outside any timed batch, and no packet pays for it.
 */
// Cost: one store a 4 KiB page and the fault it takes: 36-39 ms per fresh 100 MiB (a loop over three
// new ArrayBuffers, Node 20, 2026-12-04).
export function touchPages(buffer: ArrayBufferLike): void {
  const bytes = new Uint8Array(buffer);
  for (let i = 0; i < bytes.length; i += 4096) bytes[i] = 0;
}
