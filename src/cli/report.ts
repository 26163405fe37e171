import { kReportHelp, reportCommandMain } from '../report/cli.js';
import type { Command } from './command.js';

export const reportCommand: Command = {
  name: 'report',
  summary: 'turn benchmark results (results/results.jsonl) into BENCHMARKS.md with SVG charts',
  help: kReportHelp,
  run: (argv) => reportCommandMain(argv),
};
