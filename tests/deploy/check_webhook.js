#!/usr/bin/env node
// What the webhook's manifests (deploy/kubernetes/webhook, rendered by kustomize) must say beyond
// the Kubernetes schema (validate.js checks that): the shipped MutatingWebhookConfiguration never
// blocks the cluster and never sends kube-system, the Deployment is highly available and locked
// down, its command line is the one the image has, and, in the cert-manager variant, the
// Certificate and Issuer (cert-manager.io/v1: no schema offline, so checked here field by field,
// unknown fields included) match what the Deployment mounts and the configuration names.
// Usage: node check_webhook.js [--cert-manager] FILE     (exit 1 on any problem)
'use strict';

const fs = require('fs');
const YAML = require('yaml');

function check(objects, certManager) {
  const problems = [];
  const find = (kind) => objects.filter((o) => o && o.kind === kind);
  const one = (kind) => {
    const found = find(kind);
    if (found.length !== 1) problems.push(`expected one ${kind}, found ${found.length}`);
    return found[0] || {};
  };
  const expect = (what, actual, wanted) => {
    if (JSON.stringify(actual) !== JSON.stringify(wanted)) {
      problems.push(`${what}: ${JSON.stringify(actual)}, expected ${JSON.stringify(wanted)}`);
    }
  };

  for (const kind of ['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']) {
    if (find(kind).length) problems.push(`a ${kind}: the webhook needs no API permissions`);
  }
  const account = one('ServiceAccount');
  expect('ServiceAccount automountServiceAccountToken', account.automountServiceAccountToken, false);

  const deployment = one('Deployment');
  const namespace = (deployment.metadata || {}).namespace;
  const spec = deployment.spec || {};
  const pod = (spec.template || {}).spec || {};
  const container = (pod.containers || [])[0] || {};
  expect('Deployment replicas', spec.replicas, 2);
  expect('pod serviceAccountName', pod.serviceAccountName, account.metadata && account.metadata.name);
  expect('pod automountServiceAccountToken', pod.automountServiceAccountToken, false);
  expect('pod runAsNonRoot', (pod.securityContext || {}).runAsNonRoot, true);
  expect('readOnlyRootFilesystem', (container.securityContext || {}).readOnlyRootFilesystem, true);
  expect('allowPrivilegeEscalation', (container.securityContext || {}).allowPrivilegeEscalation, false);
  const anti = ((pod.affinity || {}).podAntiAffinity || {});
  if (!anti.preferredDuringSchedulingIgnoredDuringExecution && !anti.requiredDuringSchedulingIgnoredDuringExecution) {
    problems.push('no podAntiAffinity: both replicas may share a node');
  }
  // The image's full binary (Dockerfile: COPY ... /lastcall-full) and the flags `lastcall webhook` takes.
  expect('command', [...(container.command || []), ...(container.args || [])],
    ['/lastcall-full', 'webhook', '--listen', ':8443', '--tls-cert', '/certs/tls.crt', '--tls-key', '/certs/tls.key']);
  for (const [probe, path] of [['readinessProbe', '/readyz'], ['livenessProbe', '/healthz']]) {
    const get = (container[probe] || {}).httpGet || {};
    expect(`${probe}`, [get.path, get.scheme], [path, 'HTTPS']);
  }
  const mount = (container.volumeMounts || []).find((m) => m.mountPath === '/certs') || {};
  if (mount.subPath) problems.push('/certs mounted with subPath: the kubelet would never update the files');
  const volume = (pod.volumes || []).find((v) => v.name === mount.name) || {};
  const secretName = (volume.secret || {}).secretName;
  if (!secretName) problems.push('/certs is not a Secret volume');

  const labels = ((spec.selector || {}).matchLabels) || {};
  const pdb = one('PodDisruptionBudget');
  expect('PodDisruptionBudget selector', ((pdb.spec || {}).selector || {}).matchLabels, labels);
  if (!((pdb.spec || {}).minAvailable >= 1)) problems.push('PodDisruptionBudget minAvailable < 1');

  const service = one('Service');
  expect('Service selector', (service.spec || {}).selector, labels);

  const configuration = one('MutatingWebhookConfiguration');
  const webhooks = configuration.webhooks || [];
  if (webhooks.length === 0) problems.push('no webhooks');
  for (const webhook of webhooks) {
    const at = `webhook ${webhook.name}`;
    expect(`${at} failurePolicy`, webhook.failurePolicy, 'Ignore');
    expect(`${at} timeoutSeconds`, webhook.timeoutSeconds, 2);
    expect(`${at} sideEffects`, webhook.sideEffects, 'None');
    expect(`${at} admissionReviewVersions`, webhook.admissionReviewVersions, ['v1']);
    expect(`${at} reinvocationPolicy`, webhook.reinvocationPolicy, 'IfNeeded');
    expect(`${at} rules`, webhook.rules, [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }]);
    const target = (webhook.clientConfig || {}).service || {};
    expect(`${at} service`, [target.name, target.namespace, target.path],
      [service.metadata && service.metadata.name, namespace, '/mutate']);
    const expressions = (webhook.namespaceSelector || {}).matchExpressions || [];
    const excluded = expressions.find((e) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'NotIn');
    if (!excluded || !excluded.values.includes('kube-system') || !excluded.values.includes(namespace)) {
      problems.push(`${at}: namespaceSelector does not leave out kube-system and ${namespace}`);
    }
    if (!expressions.some((e) => e.key === 'lastcall.dev/inject')) {
      problems.push(`${at}: namespaceSelector does not read the label lastcall.dev/inject`);
    }
    const objectExpressions = (webhook.objectSelector || {}).matchExpressions || [];
    if (!objectExpressions.some((e) => e.key === 'lastcall.dev/component' && e.operator === 'DoesNotExist')) {
      problems.push(`${at}: objectSelector does not leave out lastcall's own pods`);
    }
  }

  const annotations = (configuration.metadata || {}).annotations || {};
  if (!certManager) {
    if (find('Certificate').length || annotations['cert-manager.io/inject-ca-from']) {
      problems.push('cert-manager objects in the variant without cert-manager');
    }
    return problems;
  }
  const certificate = one('Certificate');
  const issuer = one('Issuer');
  const known = (what, object, keys) => Object.keys(object || {}).filter((k) => !keys.includes(k))
    .forEach((k) => problems.push(`${what}: unknown field ${k}`));
  known('Certificate', certificate, ['apiVersion', 'kind', 'metadata', 'spec']);
  const cs = certificate.spec || {};
  known('Certificate spec', cs, ['secretName', 'duration', 'renewBefore', 'commonName', 'dnsNames',
    'privateKey', 'usages', 'issuerRef', 'isCA', 'subject', 'secretTemplate', 'ipAddresses', 'uris',
    'emailAddresses', 'keystores', 'revisionHistoryLimit', 'encodeUsagesInRequest', 'literalSubject',
    'additionalOutputFormats', 'nameConstraints', 'otherNames']);
  expect('Certificate apiVersion', certificate.apiVersion, 'cert-manager.io/v1');
  expect('Certificate namespace', (certificate.metadata || {}).namespace, namespace);
  expect('Certificate secretName', cs.secretName, secretName);
  const svc = service.metadata && service.metadata.name;
  expect('Certificate dnsNames', cs.dnsNames,
    [svc, `${svc}.${namespace}`, `${svc}.${namespace}.svc`, `${svc}.${namespace}.svc.cluster.local`]);
  const goDuration = /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/;
  for (const key of ['duration', 'renewBefore']) {
    if (cs[key] !== undefined && !goDuration.test(cs[key])) problems.push(`Certificate ${key} ${cs[key]}: not a Go duration`);
  }
  const hours = (text) => Number(String(text).replace(/h$/, ''));
  if (cs.duration && cs.renewBefore && !(hours(cs.renewBefore) < hours(cs.duration))) {
    problems.push('Certificate renewBefore is not below duration');
  }
  const key = cs.privateKey || {};
  known('Certificate privateKey', key, ['algorithm', 'size', 'encoding', 'rotationPolicy']);
  const sizes = { RSA: [2048, 3072, 4096, 8192], ECDSA: [256, 384, 521], Ed25519: [undefined] };
  if (!sizes[key.algorithm] || !sizes[key.algorithm].includes(key.size)) {
    problems.push(`Certificate privateKey ${key.algorithm} ${key.size}: not one cert-manager makes`);
  }
  const usages = ['signing', 'digital signature', 'content commitment', 'key encipherment', 'key agreement',
    'data encipherment', 'cert sign', 'crl sign', 'encipher only', 'decipher only', 'any', 'server auth',
    'client auth', 'code signing', 'email protection', 's/mime', 'ipsec end system', 'ipsec tunnel',
    'ipsec user', 'timestamping', 'ocsp signing', 'microsoft sgc', 'netscape sgc'];
  (cs.usages || []).filter((u) => !usages.includes(u)).forEach((u) => problems.push(`Certificate usage ${u}: unknown`));
  if (!(cs.usages || []).includes('server auth')) problems.push('Certificate usages lack server auth');
  const ref = cs.issuerRef || {};
  expect('Certificate issuerRef', [ref.name, ref.kind], [issuer.metadata && issuer.metadata.name, 'Issuer']);
  expect('Issuer apiVersion', issuer.apiVersion, 'cert-manager.io/v1');
  expect('Issuer namespace', (issuer.metadata || {}).namespace, namespace);
  const issuers = Object.keys(issuer.spec || {});
  if (issuers.length !== 1 || !['selfSigned', 'ca', 'acme', 'vault', 'venafi'].includes(issuers[0])) {
    problems.push(`Issuer spec ${JSON.stringify(issuers)}: exactly one of selfSigned, ca, acme, vault, venafi`);
  }
  expect('cert-manager.io/inject-ca-from', annotations['cert-manager.io/inject-ca-from'],
    `${namespace}/${certificate.metadata && certificate.metadata.name}`);
  return problems;
}

function main(argv) {
  const certManager = argv.includes('--cert-manager');
  const files = argv.filter((a) => a !== '--cert-manager');
  if (files.length !== 1) {
    console.error('usage: check_webhook.js [--cert-manager] FILE');
    return 2;
  }
  const objects = YAML.parseAllDocuments(fs.readFileSync(files[0], 'utf8')).map((d) => d.toJS());
  const problems = check(objects, certManager);
  problems.forEach((p) => console.error(`FAIL: ${files[0]}: ${p}`));
  if (!problems.length) console.log(`ok: ${files[0]}: the webhook's manifests${certManager ? ' (cert-manager)' : ''}`);
  return problems.length ? 1 : 0;
}

if (require.main === module) process.exit(main(process.argv.slice(2)));
module.exports = { check };
