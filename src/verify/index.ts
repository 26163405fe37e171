/** The real Linux kernel as referee: `kdp verify` and the kernel baseline of the benchmark. */
export { runVerify, kUniformAlpha } from './verify.js';
export type { VerifyOptions, VerifyReport, ProbeComparison, KernelView, KdpView, CategoryRow, DistributionCheck, Decision } from './verify.js';
export { runKernelBaseline, firstAndLastUdpService } from './kernel-bench.js';
export type { KernelBaselineOptions } from './kernel-bench.js';
export { kernelMode, kernelModes, missingRequirements } from './requirements.js';
export type { KernelMode } from './requirements.js';
export { formatReport } from './format.js';
export { Sandbox } from './sandbox.js';
export { chiSquareUniform } from './stats.js';
