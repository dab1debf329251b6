// The validator must catch each way the wiring can be wrong: every case breaks one thing in a
// manifest that passes, and expects the validator to say what.
// Run: node --test tests/deploy/validate.test.js
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const YAML = require('yaml');
const { validateBundle, parseDuration } = require('./validate.js');

const repo = path.resolve(__dirname, '..', '..');
const injectFixture = (name) => fs.readFileSync(path.join(repo, 'tests', 'fixtures', 'inject', name), 'utf8');

// Rendered once: the httpget-token overlay (the other shapes are covered by inject's goldens,
// which have the same wiring; validate.sh checks all overlays as rendered).
function renderOverlay(name) {
  const result = spawnSync('kubectl', ['kustomize', path.join(repo, 'deploy', 'kubernetes', 'overlays', name)], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`kubectl kustomize ${name} failed: ${result.stderr || result.error}`);
  return result.stdout;
}

// YAML 1.1 both ways, as Kubernetes reads it (`on` is a boolean there, so it must stay quoted).
const docs = (text) => YAML.parseAllDocuments(text, { version: '1.1' }).map((d) => d.toJS()).filter(Boolean);
const dump = (objects) => objects.map((o) => YAML.stringify(o, { version: '1.1' })).join('---\n');
const podOf = (objects) => objects.find((o) => o.kind === 'Deployment').spec.template.spec;
const container = (pod, name) => [...pod.containers, ...(pod.initContainers || [])].find((c) => c.name === name);

// Applies `mutate(objects, pod)` to a copy of the bundle and returns the validator's problems.
function problemsAfter(text, mutate) {
  const objects = docs(text);
  mutate(objects, podOf(objects));
  return validateBundle(dump(objects)).problems;
}

function expectProblem(text, mutate, expected) {
  const problems = problemsAfter(text, mutate);
  assert.ok(problems.some((p) => p.includes(expected)),
    `expected a problem containing "${expected}", got:\n  ${problems.join('\n  ') || '(none)'}`);
}

const exec = injectFixture('deployment.injected.yaml');
const native = injectFixture('deployment.native.yaml');

test('the pristine manifests pass', () => {
  assert.deepStrictEqual(validateBundle(exec).problems, []);
  assert.deepStrictEqual(validateBundle(native).problems, []);
  assert.deepStrictEqual(validateBundle(dump(docs(exec))).problems, []);  // the round trip is neutral
});

const execCases = [
  ['a misspelt field', (o, pod) => {
    const c = container(pod, 'lastcall');
    c.readinesProbe = c.readinessProbe;
    delete c.readinessProbe;
  }, 'unknown field /spec/template/spec/containers/2/readinesProbe'],
  ['a wrong type', (o, pod) => { container(pod, 'lastcall').ports[0].containerPort = 'abc'; }, 'schema: /spec/template/spec/containers/2/ports/0/containerPort must be integer'],
  ['readiness on /livez', (o, pod) => { container(pod, 'lastcall').readinessProbe.httpGet.path = '/livez'; }, "lastcall's readinessProbe path is /livez, not /readyz"],
  ['a slow readiness probe', (o, pod) => { container(pod, 'lastcall').readinessProbe.periodSeconds = 10; }, 'readinessProbe.periodSeconds is 10'],
  ['a tolerant readiness probe', (o, pod) => { container(pod, 'lastcall').readinessProbe.failureThreshold = 3; }, 'readinessProbe.failureThreshold is 3'],
  ['an aggressive liveness probe', (o, pod) => {
    Object.assign(container(pod, 'lastcall').livenessProbe, { periodSeconds: 1, failureThreshold: 2 });
  }, 'restarts it after 2s of failures: too aggressive'],
  ['a grace period shorter than the budget', (o, pod) => { pod.terminationGracePeriodSeconds = 20; }, 'terminationGracePeriodSeconds 20 is too short: lb_delay 5s + drain timeout 20s + exit_delay 0s + margin 2s = 27s'],
  ['a longer lb_delay', (o, pod) => {
    const args = container(pod, 'lastcall').args;
    args[args.indexOf('--lb-delay') + 1] = '15s';
  }, 'terminationGracePeriodSeconds 30 is too short: lb_delay 15s'],
  ['grace_period not the pod\'s', (o, pod) => { pod.terminationGracePeriodSeconds = 45; }, "lastcall's grace_period 30s differs from terminationGracePeriodSeconds 45"],
  ['a misspelt run flag', (o, pod) => {
    const args = container(pod, 'lastcall').args;
    args[args.indexOf('--lb-delay')] = '--lb-dealy';
  }, 'unknown argument for lastcall run: --lb-dealy'],
  ['listen moved away from the probes', (o, pod) => { container(pod, 'lastcall').args.push('--listen', ':19999'); }, 'but lastcall listens on 19999'],
  ['no preStop hook on the app', (o, pod) => { delete container(pod, 'app').lifecycle; }, 'no app container has a preStop hook that reaches lastcall'],
  ['the app does not mount the socket volume', (o, pod) => {
    const app = container(pod, 'app');
    app.volumeMounts = app.volumeMounts.filter((m) => m.name !== 'lastcall-run');
  }, "container app does not see lastcall's socket /var/run/lastcall/control.sock"],
  ['the hook talks to another control address', (o, pod) => {
    container(pod, 'app').lifecycle.preStop.exec.command.push('--control', '127.0.0.1:9902');
  }, "its control 127.0.0.1:9902 is not lastcall's (unix:///var/run/lastcall/control.sock)"],
  ['no install step', (o, pod) => { pod.initContainers = pod.initContainers.filter((c) => c.name !== 'lastcall-install'); }, 'no init container runs "lastcall install --to DIR" into volume lastcall-bin'],
  ['install below the image binary', (o, pod) => {
    const install = container(pod, 'lastcall-install');
    install.args = ['install', '--to', '/lastcall/bin'];
    install.volumeMounts[0].mountPath = '/lastcall/bin';
  }, 'container lastcall-install mounts lastcall-bin at /lastcall/bin, below /lastcall, which is a file in lastcall\'s image'],
  ['install onto the full binary', (o, pod) => {
    const install = container(pod, 'lastcall-install');
    install.args = ['install', '--to', '/lastcall-full'];
    install.volumeMounts[0].mountPath = '/lastcall-full';
  }, 'container lastcall-install mounts lastcall-bin at /lastcall-full, below /lastcall-full, which is a file in lastcall\'s image'],
  ['install into another directory', (o, pod) => { container(pod, 'lastcall-install').args = ['install', '--to', '/elsewhere']; }, 'no init container runs "lastcall install --to DIR"'],
  ['the app outside the socket group', (o, pod) => { delete pod.securityContext.supplementalGroups; }, 'cannot connect to the control socket (mode 0660, group 65532)'],
  ['a writable root filesystem', (o, pod) => { container(pod, 'lastcall').securityContext.readOnlyRootFilesystem = false; }, 'lastcall: securityContext.readOnlyRootFilesystem must be true'],
  ['root', (o, pod) => { Object.assign(container(pod, 'lastcall').securityContext, { runAsUser: 0, runAsNonRoot: false }); }, 'lastcall: securityContext.runAsNonRoot must be true'],
  ['capabilities kept', (o, pod) => { delete container(pod, 'lastcall').securityContext.capabilities; }, 'lastcall: securityContext.capabilities.drop must include ALL'],
  ['no seccomp profile', (o, pod) => { delete container(pod, 'lastcall').securityContext.seccompProfile; }, 'seccompProfile.type must be RuntimeDefault'],
  ['no limits', (o, pod) => { delete container(pod, 'lastcall').resources.limits; }, 'lastcall: resources.limits.cpu is not set'],
  ['the socket on the read-only root', (o, pod) => { container(pod, 'lastcall').volumeMounts = []; }, 'control socket /var/run/lastcall/control.sock is not on a volume lastcall mounts'],
  ['a run-to-completion pod', (o, pod) => { pod.restartPolicy = 'OnFailure'; }, 'the pod would never complete'],
  ['a mount of an undefined volume', (o, pod) => { pod.volumes = pod.volumes.filter((v) => v.name !== 'lastcall-bin'); }, 'container app mounts volume lastcall-bin, which the pod does not define'],
  ['a duplicate container name', (o, pod) => { container(pod, 'log-shipper').name = 'lastcall'; }, 'two containers are named lastcall'],
  ['a probe on a plain init container', (o, pod) => { container(pod, 'lastcall-install').readinessProbe = { httpGet: { path: '/', port: 1 } }; }, 'init container lastcall-install has readinessProbe, allowed only with restartPolicy: Always'],
  ['no lastcall at all', (o, pod) => {
    pod.containers = pod.containers.filter((c) => c.name !== 'lastcall');
  }, 'no container named lastcall'],
];
for (const [name, mutate, expected] of execCases) {
  test(`regular exec shape: ${name}`, () => expectProblem(exec, mutate, expected));
}

const nativeCases = [
  ['no restartPolicy', (o, pod) => { delete container(pod, 'lastcall').restartPolicy; }, 'without restartPolicy: Always'],
  ['no own preStop hook', (o, pod) => { delete container(pod, 'lastcall').lifecycle; }, 'native sidecar lastcall needs its own preStop hook'],
  ['its hook runs another binary', (o, pod) => { container(pod, 'lastcall').lifecycle.preStop.exec.command[0] = '/lastcall/bin/lastcall'; }, 'needs its own preStop hook exec: ["/lastcall", "prestop"]'],
];
for (const [name, mutate, expected] of nativeCases) {
  test(`native shape: ${name}`, () => expectProblem(native, mutate, expected));
}

test('httpget-token shape', async (t) => {
  const http = renderOverlay('httpget-token');
  const config = (objects) => objects.find((o) => o.kind === 'ConfigMap');
  await t.test('passes as rendered', () => assert.deepStrictEqual(validateBundle(http).problems, []));
  const cases = [
    ['a header that is not the token', (o, pod) => { container(pod, 'app').lifecycle.preStop.httpGet.httpHeaders[0].value = 'Bearer other'; }, 'the Authorization header is not "Bearer " + the token'],
    ['no header', (o, pod) => { delete container(pod, 'app').lifecycle.preStop.httpGet.httpHeaders; }, 'no Authorization header'],
    ['the wrong port', (o, pod) => { container(pod, 'app').lifecycle.preStop.httpGet.port = 9902; }, 'port 9902, but lastcall listens on 9901'],
    ['a named port', (o, pod) => { container(pod, 'app').lifecycle.preStop.httpGet.port = 'lastcall'; }, "port lastcall must be lastcall's port number"],
    ['host set to the loopback', (o, pod) => { container(pod, 'app').lifecycle.preStop.httpGet.host = '127.0.0.1'; }, 'host 127.0.0.1 must be unset'],
    ['no token configured', (o) => {
      const map = config(o);
      map.data['lastcall.yaml'] = map.data['lastcall.yaml'].replace(/^token_file:.*$/m, '');
    }, 'lastcall serves /prestop on its listen port only with a token'],
    ['a misspelt config key', (o) => {
      const map = config(o);
      map.data['lastcall.yaml'] = map.data['lastcall.yaml'].replace('lb_delay:', 'lb_dealy:');
    }, 'lastcall.yaml: unknown key shutdown.lb_dealy'],
    ['a config grace period that differs', (o) => {
      const map = config(o);
      map.data['lastcall.yaml'] = map.data['lastcall.yaml'].replace('grace_period: 30s', 'grace_period: 25s');
    }, "lastcall's grace_period 25s differs from terminationGracePeriodSeconds 30"],
    ['a drain timeout that does not fit', (o) => {
      const map = config(o);
      map.data['lastcall.yaml'] = map.data['lastcall.yaml'].replace('timeout: 20s', 'timeout: 40s');
    }, 'terminationGracePeriodSeconds 30 is too short'],
    ['the config file missing from the ConfigMap', (o) => {
      const map = config(o);
      map.data = { 'other.yaml': map.data['lastcall.yaml'] };
    }, 'has no key lastcall.yaml'],
    ['the token not in a Secret', (o, pod) => {
      container(pod, 'lastcall').volumeMounts = container(pod, 'lastcall').volumeMounts.filter((m) => m.name !== 'lastcall-token');
    }, 'token_file /etc/lastcall-token/token: /etc/lastcall-token/token is not in any volume lastcall mounts'],
  ];
  for (const [name, mutate, expected] of cases) {
    await t.test(name, () => expectProblem(http, mutate, expected));
  }
});

test('durations parse as lastcall parses them', () => {
  const table = [['0', 0], ['250ms', 250], ['5s', 5000], ['1m30s', 90000], ['1.5s', 1500], ['1h', 3600000], ['5', null], ['', null], ['5x', null], ['s', null]];
  for (const [text, ms] of table) assert.strictEqual(parseDuration(text), ms, text);
});
