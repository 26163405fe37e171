/**
 * The benchmark report: results (src/report/result.ts) → BENCHMARKS.md and SVG charts.
 * renderReport and everything it uses are pure; writeReport is the Node edge (`kdp report` is
 * src/cli/report.ts).
 */
export { renderReport } from './markdown.js';
export type { Report, ReportOptions } from './markdown.js';
export { renderLineChart } from './svg-chart.js';
export type { ChartAxisSpec, ChartPoint, ChartSeries, LineChartSpec, MarkerShape } from './svg-chart.js';
export { buildCharts, kChartFiles } from './charts.js';
export type { Chart } from './charts.js';
export { computeObservations, describeObservations } from './observations.js';
export type { CniOverhead, HashCrossover, KernelPoint, LinearCost, ModeSlope, Observations } from './observations.js';
export { evaluateTargets } from './targets.js';
export type { TargetResult, Verdict } from './targets.js';
export { crossover, leastSquares, logLogFit } from './fit.js';
export type { Crossover, Fit, XY } from './fit.js';
export { parseResultsJsonl } from './parse-results.js';
export type { MalformedLine, ParsedResults } from './parse-results.js';
export { parseMachineJson } from './parse-machine.js';
export { cellKeyString } from './result.js';
export type { CellKey, CellResult, MachineInfo, Spread } from './result.js';
