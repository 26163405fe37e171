/**
 * The sizes one kdp process can hold, checked before the work starts so that a too-large input
 * ends with one line naming the figure (exit 2), not with "Invalid string length" or a heap
 * exhaustion minutes later.
 *
 * - A cluster file or a rule dump is read as one string, and V8 caps a string at
 *   buffer.constants.MAX_STRING_LENGTH characters (2^29 - 24, 512 MiB, in Node 20 on 64-bit); no
 *   flag raises it.
 * - Parsing and building the model take heap in proportion to the file: measured (Node 20, a
 *   generated List of 3,000 and 20,000 Services x 10 endpoints) 4.7 to 6.9 bytes of heap per byte
 *   of JSON and 25 per byte of YAML; the checks allow 8 and 30. The heap limit is V8's
 *   (`--max-old-space-size`, raised with NODE_OPTIONS).
 * - `generate` holds every object and then the model: measured 4,570 bytes per Service with one
 *   endpoint and about 360 more per endpoint (50,000 x 1, 20,000 x 10, 5,000 x 100); the check
 *   allows 5,000 + 400 per endpoint. Its file takes about 600 bytes per Service and 133 per
 *   endpoint (measured at 20,000 x 0, 1 and 10, 1,500 x 100), so past about 278,000 Services x 10
 *   endpoints it would be a file kdp cannot read back: refused up front, from an estimate of 600
 *   + 135 per endpoint.
 */
import { constants } from 'node:buffer';
import { getHeapStatistics } from 'node:v8';
import { TooLargeError } from '../errors.js';

/** Longest string V8 makes (characters; one byte each for the ASCII of JSON and YAML). */
export const kMaxTextChars = constants.MAX_STRING_LENGTH;
export const kHeapPerJsonByte = 8;
export const kHeapPerYamlByte = 30;
export const kHeapPerService = 5000;
export const kHeapPerEndpoint = 400;
export const kFileBytesPerService = 600;
export const kFileBytesPerEndpoint = 135;

const mib = (bytes: number): string => `${Math.ceil(bytes / 2 ** 20).toLocaleString('en-US')} MiB`;

/** The heap this process may grow to (V8's heap_size_limit). */
export function heapLimit(): number {
  return getHeapStatistics().heap_size_limit;
}

function raiseHint(needBytes: number): string {
  // Room for the rest of the process besides the estimate.
  const mb = Math.ceil((needBytes * 1.25) / 2 ** 20 / 1024) * 1024;
  return `run with NODE_OPTIONS=--max-old-space-size=${mb} (MiB) on a machine with that much memory free`;
}

/** Refuses a file that cannot become one string; call with its size before reading it. */
export function checkTextSize(file: string, bytes: number, what: string): void {
  if (bytes > kMaxTextChars) {
    throw new TooLargeError(`${file} is ${mib(bytes)}: kdp reads a ${what} as one string and V8 caps a string at ${mib(kMaxTextChars)} (no flag raises it); split the file or make it smaller`);
  }
}

/** Refuses a cluster file whose parse would not fit the heap; call with the text before parsing it. */
export function checkParseHeap(file: string, text: string, heap = heapLimit()): void {
  const first = text.trimStart()[0];
  const yaml = first !== '{' && first !== '[';
  const need = text.length * (yaml ? kHeapPerYamlByte : kHeapPerJsonByte);
  if (need > heap) {
    throw new TooLargeError(`${file} (${mib(text.length)} of ${yaml ? 'YAML' : 'JSON'}) needs about ${mib(need)} of heap to read, and this process may use ${mib(heap)}: ${raiseHint(need)}${yaml ? ', or give it as JSON (about a quarter of the memory)' : ''}`);
  }
}

/** Refuses a synthetic cluster that would not fit the heap; call before generating it. */
export function checkGenerateHeap(services: number, endpoints: number, heap = heapLimit()): void {
  const need = services * (kHeapPerService + endpoints * kHeapPerEndpoint);
  if (need > heap) {
    throw new TooLargeError(`${services.toLocaleString('en-US')} Services x ${endpoints} endpoint${endpoints === 1 ? '' : 's'} need about ${mib(need)} of heap, and this process may use ${mib(heap)}: ${raiseHint(need)}`);
  }
}

/** Refuses a synthetic cluster whose file kdp could not read back (see checkTextSize). */
export function checkGenerateFile(services: number, endpoints: number): void {
  const bytes = services * (kFileBytesPerService + endpoints * kFileBytesPerEndpoint);
  if (bytes > kMaxTextChars) {
    throw new TooLargeError(`${services.toLocaleString('en-US')} Services x ${endpoints} endpoint${endpoints === 1 ? '' : 's'} make a file of about ${mib(bytes)}, and kdp reads a cluster file as one string of at most ${mib(kMaxTextChars)} (V8's limit; no flag raises it): kdp could not read it back; use fewer Services or endpoints`);
  }
}
