/**
 * `kdp job`: the Job it prints is a valid batch/v1 Job by Kubernetes' own published schema
 * (release-1.33, vendored), meets the rules the API server checks beyond the schema for the fields
 * it uses, is Guaranteed QoS, and its pods, run as the Job controller runs them (JOB_COMPLETION_INDEX
 * 0..N-1), plan exactly the sweep's cells, each once.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { fixturePath } from '../helpers/cluster.js';
import { loadOpenApi, validateOpenApi } from '../helpers/openapi.js';

const kdp = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = (args: string[], env: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, [kdp, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
const kJob = 'io.k8s.api.batch.v1.Job';
const schema = loadOpenApi(fixturePath('kubernetes-openapi/batch-v1-job.json'));

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function job(args: string[]): Obj {
  const r = run(['job', ...args]);
  assert.equal(r.status, 0, r.stderr);
  return (args.includes('json') ? JSON.parse(r.stdout) : parseYaml(r.stdout)) as Obj;
}

const clone = (o: Obj): Obj => JSON.parse(JSON.stringify(o)) as Obj;

describe('kdp job', () => {
  const stdoutJob = job(['--shards', '8', '--services', '10,100,1000', '--modes', 'iptables,ipvs', '--image', 'registry.example/kdp:1']);
  const pvcJob = job(['--shards', '8', '--parallelism', '3', '--results', 'pvc:kdp-results', '--cpu', '4', '--memory', '6Gi', '--format', 'json', '--workers', '1,4', '--services', '100']);

  it('prints Jobs that validate against the batch/v1 OpenAPI schema of Kubernetes 1.33', () => {
    assert.deepEqual(validateOpenApi(schema, kJob, stdoutJob), []);
    assert.deepEqual(validateOpenApi(schema, kJob, pvcJob), []);
  });

  it('the validator refuses an unknown field, a wrong type, a missing required field and a bad quantity', () => {
    const unknown = clone(stdoutJob);
    unknown.spec.completionsMode = 'Indexed';
    assert.deepEqual(validateOpenApi(schema, kJob, unknown), ['spec.completionsMode: unknown field']);
    const nested = clone(stdoutJob);
    nested.spec.template.spec.containers[0].resource = {};
    assert.deepEqual(validateOpenApi(schema, kJob, nested), ['spec.template.spec.containers[0].resource: unknown field']);
    const wrongType = clone(stdoutJob);
    wrongType.spec.completions = '8';
    assert.match(validateOpenApi(schema, kJob, wrongType).join('\n'), /^spec\.completions: expected integer, got string "8"$/);
    const tooBig = clone(stdoutJob);
    tooBig.spec.parallelism = 2 ** 31;
    assert.match(validateOpenApi(schema, kJob, tooBig).join('\n'), /spec\.parallelism: 2147483648 is out of int32 range/);
    const noName = clone(stdoutJob);
    delete noName.spec.template.spec.containers[0].name;
    assert.deepEqual(validateOpenApi(schema, kJob, noName), ['spec.template.spec.containers[0].name: required field missing']);
    const noTemplate = clone(stdoutJob);
    delete noTemplate.spec.template;
    assert.deepEqual(validateOpenApi(schema, kJob, noTemplate), ['spec.template: required field missing']);
    const badCpu = clone(stdoutJob);
    badCpu.spec.template.spec.containers[0].resources.limits.cpu = true;
    assert.match(validateOpenApi(schema, kJob, badCpu).join('\n'), /resources\.limits\.cpu: true matches 0 of the 2 oneOf/);
    const argsNotStrings = clone(stdoutJob);
    argsNotStrings.spec.template.spec.containers[0].args = ['bench', 8];
    assert.match(validateOpenApi(schema, kJob, argsNotStrings).join('\n'), /containers\[0\]\.args\[1\]: expected string, got integer 8/);
  });

  it('is an Indexed Job with one completion per shard, the parallelism asked and a retry budget per index', () => {
    for (const [j, parallelism] of [[stdoutJob, 8], [pvcJob, 3]] as const) {
      assert.equal(j.apiVersion, 'batch/v1');
      assert.equal(j.kind, 'Job');
      assert.equal(j.spec.completionMode, 'Indexed');
      assert.equal(j.spec.completions, 8);
      assert.equal(j.spec.parallelism, parallelism);
      assert.equal(j.spec.backoffLimitPerIndex, 1);
      // The API server's rules beyond the schema (JobSpec field docs): backoffLimitPerIndex only
      // with Indexed and restartPolicy Never; podFailurePolicy never with OnFailure; FailIndex
      // only with backoffLimitPerIndex; onExitCodes In never lists 0.
      assert.equal(j.spec.template.spec.restartPolicy, 'Never');
      for (const rule of j.spec.podFailurePolicy.rules) {
        assert.ok(['FailJob', 'FailIndex', 'Ignore', 'Count'].includes(rule.action));
        if (rule.onExitCodes) assert.ok(!(rule.onExitCodes.operator === 'In' && rule.onExitCodes.values.includes(0)));
      }
      assert.deepEqual(j.spec.podFailurePolicy.rules.find((r: Obj) => r.action === 'FailJob').onExitCodes, { containerName: 'kdp', operator: 'In', values: [2] });
    }
  });

  it('is Guaranteed QoS: every container requests exactly its limits, whole CPUs', () => {
    // Kubernetes' Pod QoS classes: Guaranteed when every container has memory and CPU limits
    // equal to its requests; the static CPU manager pins only integer CPU requests.
    for (const [j, cpu, memory] of [[stdoutJob, '2', '4Gi'], [pvcJob, '4', '6Gi']] as const) {
      for (const c of j.spec.template.spec.containers) {
        assert.deepEqual(c.resources.requests, c.resources.limits);
        assert.equal(c.resources.limits.cpu, cpu);
        assert.equal(c.resources.limits.memory, memory);
        assert.match(String(c.resources.limits.cpu), /^[1-9][0-9]*$/);
      }
    }
  });

  it('writes results to stdout (an emptyDir for the scratch files) or to the claim named', () => {
    const c = stdoutJob.spec.template.spec.containers[0];
    assert.ok(c.args.includes('--stdout'));
    assert.ok(!c.args.includes('--resume'));
    assert.deepEqual(stdoutJob.spec.template.spec.volumes, [{ name: 'results', emptyDir: {} }]);
    const p = pvcJob.spec.template.spec.containers[0];
    assert.ok(p.args.includes('--resume'), 'a retried index continues on the volume');
    assert.deepEqual(pvcJob.spec.template.spec.volumes, [{ name: 'results', persistentVolumeClaim: { claimName: 'kdp-results' } }]);
    assert.deepEqual(p.volumeMounts, [{ name: 'results', mountPath: '/results' }]);
    assert.equal(p.args[p.args.indexOf('--out') + 1], '/results/kdp-bench');
  });

  it("its pods, run as the Job controller runs them, plan every cell of the sweep exactly once", () => {
    const args: string[] = stdoutJob.spec.template.spec.containers[0].args;
    assert.equal(args[0], 'bench');
    const planArgs = [...args.filter((a) => a !== '--stdout'), '--plan'];
    const whole = run(['bench', '--plan', '--services', '10,100,1000', '--modes', 'iptables,ipvs', '--cores', '2']);
    assert.equal(whole.status, 0, whole.stderr);
    const wholeKeys = whole.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { key: string }).key).sort();
    const seen: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = run(planArgs, { JOB_COMPLETION_INDEX: String(i) });
      assert.equal(r.status, 0, r.stderr);
      for (const l of r.stdout.trim().split('\n').filter((x) => x !== '')) {
        const p = JSON.parse(l) as { key: string; shard: number; shards: number };
        assert.equal(p.shard, i);
        assert.equal(p.shards, 8);
        seen.push(p.key);
      }
    }
    assert.deepEqual(seen.sort(), wholeKeys);
  });

  it('refuses bad usage with one line and exit 2', () => {
    const cases: [string[], RegExp][] = [
      [['--services', '10'], /--shards N is required/],
      [['--shards', '4', '--workers', '1,8'], /a cell runs 8 workers but --cpu is 2/],
      [['--shards', '4', '--results', 'pvc:'], /--results takes stdout or pvc:CLAIM/],
      [['--shards', '4', '--memory', '4GB'], /--memory takes a Kubernetes quantity/],
      [['--shards', '4', '--parallelism', '5'], /--parallelism takes a whole number from 1 to 4/],
      [['--shards', '4', '--name', 'Kdp_Bench'], /--name takes a DNS label/],
      [['--shards', '4', '--out', 'x'], /Unknown option '--out'/],
    ];
    for (const [args, message] of cases) {
      const r = run(['job', ...args]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
  });
});
