/**
 * "Where the time goes": the summary `npm run profile` writes (results/profile/summary.json),
 * self time of the replay by source file and by function, so that each missed target is read
 * against a profile rather than a guess.
 */
export interface ProfileEntry {
  readonly name: string;
  readonly ms: number;
  readonly share: number;
}

export interface ProfileSummary {
  readonly command: string;
  readonly date: string;
  readonly profiles: readonly {
    readonly mode: string;
    readonly services: number;
    readonly flows: number;
    readonly scope?: string;
    readonly totalMs: number;
    readonly byFile: readonly ProfileEntry[];
    readonly byFunction: readonly ProfileEntry[];
  }[];
}

const pct = (share: number): string => `${(share * 100).toFixed(1)} %`;

export function profileSection(summary: ProfileSummary | undefined): string[] {
  const out = ['## Where the time goes (profile)', ''];
  if (!summary || summary.profiles.length === 0) {
    out.push('No profile was taken: `npm run profile` writes results/profile/summary.json, which this section reads.', '');
    return out;
  }
  out.push(
    `From \`${summary.command}\` (${summary.date}): Node's CPU profiler on a replay of each mode, self time (the time spent in a function itself, not in what it calls). These are what the missed targets above come down to.`,
    '',
  );
  for (const p of summary.profiles) {
    out.push(`### ${p.mode}, ${p.services.toLocaleString('en-US')} Services, ${p.flows.toLocaleString('en-US')} flows${p.scope ? ` (${p.scope})` : ''}`, '');
    out.push(`${p.totalMs.toLocaleString('en-US')} ms of samples.`, '');
    out.push('| source file | self time | share |', '| --- | ---: | ---: |');
    for (const f of p.byFile.slice(0, 8)) out.push(`| \`${f.name}\` | ${f.ms.toLocaleString('en-US')} ms | ${pct(f.share)} |`);
    out.push('', '| function | self time | share |', '| --- | ---: | ---: |');
    for (const f of p.byFunction.slice(0, 10)) out.push(`| \`${f.name}\` | ${f.ms.toLocaleString('en-US')} ms | ${pct(f.share)} |`);
    out.push('');
  }
  return out;
}
