// The PrometheusRule's shape, checked offline (tests/deploy/alerts.sh): no schema of the
// Prometheus Operator's CRD is installed here, so this checks what its openAPIV3Schema requires
// (monitoring.coreos.com/v1 PrometheusRule: spec.groups[].name and rules[], each rule `expr` and
// exactly one of `alert` and `record`; labels and annotations string maps; `for` a duration),
// and that its groups are the plain rules file's, which promtool checked and tested.
// Usage: node alerts_check.js RULES_FILE PROMETHEUSRULE_FILE
'use strict';
const assert = require('node:assert');
const fs = require('node:fs');
const YAML = require('yaml');

const [rulesPath, crdPath] = process.argv.slice(2);
const problems = [];
const check = (ok, what) => { if (!ok) problems.push(what); };

const rules = YAML.parse(fs.readFileSync(rulesPath, 'utf8'));
const docs = YAML.parseAllDocuments(fs.readFileSync(crdPath, 'utf8'));
check(docs.length === 1, `${crdPath}: expected one document, found ${docs.length}`);
for (const doc of docs) check(doc.errors.length === 0, `${crdPath}: ${doc.errors.join('; ')}`);
const crd = docs[0].toJS();

check(crd.apiVersion === 'monitoring.coreos.com/v1', `apiVersion ${crd.apiVersion}`);
check(crd.kind === 'PrometheusRule', `kind ${crd.kind}`);
const name = crd.metadata && crd.metadata.name;
check(typeof name === 'string' && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name) && name.length <= 253,
  `metadata.name ${name}: not a DNS-1123 subdomain`);
for (const [key, value] of Object.entries((crd.metadata && crd.metadata.labels) || {})) {
  check(typeof value === 'string' && value.length <= 63, `metadata.labels.${key}: ${value}`);
}
check(Object.keys(crd).every((k) => ['apiVersion', 'kind', 'metadata', 'spec'].includes(k)),
  `unknown top-level keys: ${Object.keys(crd)}`);

const isStringMap = (m) => m === undefined || (m !== null && typeof m === 'object' && !Array.isArray(m) &&
  Object.values(m).every((v) => typeof v === 'string'));
const duration = /^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$/;
const groups = (crd.spec && crd.spec.groups) || [];
check(Array.isArray(groups) && groups.length > 0, 'spec.groups: empty');
const seen = new Set();
for (const [g, group] of groups.entries()) {
  const where = `spec.groups[${g}]`;
  check(typeof group.name === 'string' && group.name.length > 0, `${where}.name missing`);
  check(!seen.has(group.name), `${where}.name ${group.name}: twice`);
  seen.add(group.name);
  check(Object.keys(group).every((k) => ['name', 'interval', 'rules', 'partial_response_strategy', 'limit'].includes(k)),
    `${where}: unknown keys ${Object.keys(group)}`);
  if (group.interval !== undefined) check(duration.test(group.interval), `${where}.interval ${group.interval}`);
  check(Array.isArray(group.rules) && group.rules.length > 0, `${where}.rules: empty`);
  for (const [r, rule] of (group.rules || []).entries()) {
    const at = `${where}.rules[${r}] ${rule.alert || rule.record}`;
    check((rule.alert === undefined) !== (rule.record === undefined), `${at}: needs exactly one of alert, record`);
    check(typeof rule.expr === 'string' && rule.expr.trim().length > 0, `${at}: expr must be a non-empty string`);
    check(Object.keys(rule).every((k) => ['alert', 'record', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations'].includes(k)),
      `${at}: unknown keys ${Object.keys(rule)}`);
    for (const key of ['for', 'keep_firing_for']) {
      if (rule[key] !== undefined) check(duration.test(rule[key]), `${at}.${key} ${rule[key]}: not a duration`);
    }
    check(isStringMap(rule.labels), `${at}.labels: not a map of strings`);
    check(isStringMap(rule.annotations), `${at}.annotations: not a map of strings`);
    if (rule.alert !== undefined) check(rule.labels && ['critical', 'warning', 'info'].includes(rule.labels.severity), `${at}: labels.severity must be critical, warning or info`);
  }
}
try {
  assert.deepStrictEqual(groups, rules.groups);
} catch (e) {
  problems.push(`spec.groups differ from ${rulesPath}'s groups: ${e.message}`);
}

if (problems.length > 0) {
  for (const problem of problems) console.error(`alerts_check: ${crdPath}: ${problem}`);
  process.exit(1);
}
console.log(`alerts_check: ${crdPath}: a PrometheusRule of ${groups.length} group(s), ${groups.reduce((n, g) => n + g.rules.length, 0)} rule(s), the same as ${rulesPath}`);
