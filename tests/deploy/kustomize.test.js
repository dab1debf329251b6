// The kustomize path, built by the real `kubectl kustomize`: the component
// deploy/kubernetes/components/lastcall runs `lastcall inject` as a transformer plugin
// (deploy/kubernetes/plugin), so a user's workloads plus the component alone render pods that
// start, and nothing of the user's (a preStop hook, supplemental groups, a StatefulSet) is
// dropped. Also the KRM function protocol (a ResourceList in, a ResourceList out), which
// standalone kustomize speaks to exec functions.
// Run: LASTCALL_BIN=build/lastcall node --test tests/deploy/kustomize.test.js
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const YAML = require('yaml');

const repo = path.resolve(__dirname, '..', '..');
const lastcall = path.resolve(process.env.LASTCALL_BIN || path.join(repo, 'build', 'lastcall'));
const ownApp = path.join(repo, 'tests', 'deploy', 'fixtures', 'kustomize', 'own-app');

// lastcall on PATH for the plugin, and no LASTCALL_* variable (lastcall reads those as settings).
const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'lastcall-kustomize-'));
fs.symlinkSync(lastcall, path.join(bin, 'lastcall'));
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LASTCALL_')));
env.PATH = `${bin}:${env.PATH}`;
env.KUSTOMIZE_PLUGIN_HOME = path.join(repo, 'deploy', 'kubernetes', 'plugin');

function kustomize(dir, { plugins = true } = {}) {
  const args = ['kustomize', ...(plugins ? ['--enable-alpha-plugins'] : []), dir];
  return spawnSync('kubectl', args, { encoding: 'utf8', env });
}

function render(dir) {
  const result = kustomize(dir);
  assert.strictEqual(result.status, 0, `kubectl kustomize ${dir} failed: ${result.stderr}`);
  return YAML.parseAllDocuments(result.stdout).map((d) => d.toJS()).filter(Boolean);
}

const podOf = (object) => object.spec.template.spec;
const named = (list, name) => (list || []).find((c) => c.name === name);
const workloads = (objects) => objects.filter((o) => o.spec && o.spec.template);

test('a user\'s Deployment and StatefulSet plus the component alone: every workload gets lastcall', () => {
  const objects = render(ownApp);
  const kinds = workloads(objects).map((o) => `${o.kind}/${o.metadata.name}`).sort();
  assert.deepStrictEqual(kinds, ['Deployment/web', 'StatefulSet/db']);
  for (const workload of workloads(objects)) {
    const pod = podOf(workload);
    const sidecar = named(pod.containers, 'lastcall') || named(pod.initContainers, 'lastcall');
    assert.ok(sidecar, `${workload.kind}/${workload.metadata.name} has no lastcall container`);
    assert.strictEqual(sidecar.args[0], 'run');
    assert.strictEqual(sidecar.readinessProbe.httpGet.path, '/readyz');
    // The pod's identity for lastcall's Kubernetes API client (Events, EndpointSlices).
    const env = Object.fromEntries((sidecar.env || []).map((e) => [e.name, e.valueFrom && e.valueFrom.fieldRef.fieldPath]));
    assert.deepStrictEqual(env, { POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace', POD_UID: 'metadata.uid' });
  }
});

test('the pod starts: every ConfigMap and Secret it mounts is in the bundle', () => {
  const objects = render(ownApp);
  const present = new Set(objects.map((o) => `${o.kind}/${o.metadata.name}`));
  for (const workload of workloads(objects)) {
    for (const volume of podOf(workload).volumes || []) {
      if (volume.configMap) assert.ok(present.has(`ConfigMap/${volume.configMap.name}`), `${volume.name}: ConfigMap ${volume.configMap.name} is not in the bundle`);
      if (volume.secret) assert.ok(present.has(`Secret/${volume.secret.secretName}`), `${volume.name}: Secret ${volume.secret.secretName} is not in the bundle`);
    }
  }
});

test('an existing preStop hook is kept: it runs after the drain', () => {
  const objects = render(ownApp);
  const expected = {
    web: ['/usr/sbin/nginx', '-s', 'quit'],
    db: ['/bin/sh', '-c', 'db-ctl stop --mode fast'],
  };
  for (const workload of workloads(objects)) {
    const app = podOf(workload).containers[0];
    const command = app.lifecycle.preStop.exec.command;
    assert.deepStrictEqual(command.slice(0, 2), ['/lastcall/bin/lastcall', 'prestop'], JSON.stringify(command));
    const then = command.indexOf('--');
    assert.ok(then > 0, `no chained hook in ${JSON.stringify(command)}`);
    assert.deepStrictEqual(command.slice(then + 1), expected[workload.metadata.name]);
  }
});

test('supplementalGroups are merged, not replaced', () => {
  const web = render(ownApp).find((o) => o.kind === 'Deployment');
  const groups = podOf(web).securityContext.supplementalGroups;
  for (const group of [1000, 2000]) assert.ok(groups.includes(group), `group ${group} dropped: ${JSON.stringify(groups)}`);
  assert.ok(groups.includes(65532), `lastcall's group missing: ${JSON.stringify(groups)}`);
  const security = podOf(web).securityContext;
  assert.strictEqual(security.runAsUser, 1000);
  assert.strictEqual(security.runAsGroup, 1000);
});

test('without --enable-alpha-plugins the build fails: it never renders the workloads without lastcall', () => {
  const result = kustomize(ownApp, { plugins: false });
  assert.notStrictEqual(result.status, 0);
  assert.match(result.stderr, /external plugins disabled/);
});

test('the overlays render through the same transformer: regular-exec, native-sidecar', () => {
  const regular = render(path.join(repo, 'deploy', 'kubernetes', 'overlays', 'regular-exec'));
  const regularPod = podOf(regular.find((o) => o.kind === 'Deployment'));
  assert.ok(named(regularPod.containers, 'lastcall'));
  const native = render(path.join(repo, 'deploy', 'kubernetes', 'overlays', 'native-sidecar'));
  const nativePod = podOf(native.find((o) => o.kind === 'Deployment'));
  const sidecar = named(nativePod.initContainers, 'lastcall');
  assert.ok(sidecar, 'native-sidecar: lastcall is not an init container');
  assert.strictEqual(sidecar.restartPolicy, 'Always');
  // The example app declares its drain endpoint: a refused poll is an error, never "drained".
  const args = named(regularPod.containers, 'lastcall').args;
  assert.strictEqual(args[args.indexOf('--refused-means') + 1], 'error');
});

test('cluster access by annotation: the Role and RoleBinding beside the workload, in the kustomization\'s namespace, the rules of deploy/kubernetes/rbac', () => {
  const objects = render(path.join(repo, 'tests', 'deploy', 'fixtures', 'kustomize', 'cluster-access'));
  const role = objects.find((o) => o.kind === 'Role');
  const binding = objects.find((o) => o.kind === 'RoleBinding');
  assert.ok(role && binding, `no Role or RoleBinding in ${objects.map((o) => o.kind)}`);
  assert.strictEqual(role.metadata.namespace, 'shop');
  assert.strictEqual(binding.metadata.namespace, 'shop');
  assert.deepStrictEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
  assert.deepStrictEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'web', namespace: 'shop' }]);
  const shipped = YAML.parse(fs.readFileSync(path.join(repo, 'deploy', 'kubernetes', 'rbac', 'role.yaml'), 'utf8'));
  assert.deepStrictEqual(role.rules, shipped.rules);
  assert.strictEqual(role.metadata.name, shipped.metadata.name);
  // Without the annotation nothing of the kind is written (own-app).
  assert.ok(!render(ownApp).some((o) => o.kind === 'Role' || o.kind === 'RoleBinding'));
});

test('the KRM function protocol: a ResourceList in gives a ResourceList out, items injected', () => {
  const items = ['deployment.yaml', 'statefulset.yaml', 'service.yaml']
    .flatMap((f) => YAML.parseAllDocuments(fs.readFileSync(path.join(ownApp, f), 'utf8')).map((d) => d.toJS()));
  const list = {
    apiVersion: 'config.kubernetes.io/v1',
    kind: 'ResourceList',
    items,
    functionConfig: { apiVersion: 'lastcall.dev/v1', kind: 'LastcallInject', metadata: { name: 'inject' } },
  };
  const result = spawnSync(lastcall, ['inject', '-'], { input: YAML.stringify(list), encoding: 'utf8', env });
  assert.strictEqual(result.status, 0, result.stderr);
  const out = YAML.parse(result.stdout);
  assert.strictEqual(out.kind, 'ResourceList');
  assert.strictEqual(out.items.length, items.length);
  assert.deepStrictEqual(out.functionConfig, list.functionConfig);
  for (const workload of workloads(out.items)) {
    assert.ok(named(podOf(workload).containers, 'lastcall'), `${workload.metadata.name} not injected`);
  }
});
