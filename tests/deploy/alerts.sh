#!/usr/bin/env bash
# lastcall's alerts (deploy/kubernetes/alerts; scripts/test.d/deploy.sh runs this as a step):
# `promtool check rules` on the plain rules file, `promtool test rules` on its unit tests
# (tests/alerts/*_test.yaml: series that make each alert fire and near misses that must not),
# and the PrometheusRule beside it: generated from the rules file (one source of truth; this
# fails when it is stale) and checked for the shape the Prometheus Operator's CRD wants
# (alerts_check.js: no CRD schema is available offline).
# Usage: tests/deploy/alerts.sh            (check)
#        tests/deploy/alerts.sh --update   (rewrite prometheusrule.yaml from lastcall-rules.yaml)
# Needs: promtool (Debian's prometheus package), node with tests/deploy/node_modules.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=$repo/deploy/kubernetes/alerts
rules=$dir/lastcall-rules.yaml
crd=$dir/prometheusrule.yaml

# The PrometheusRule: its own header, then the rules file's groups (its comments kept) as spec.
render() {
  cat <<'HEADER'
# lastcall's alerts for the Prometheus Operator. GENERATED from lastcall-rules.yaml by
# `tests/deploy/alerts.sh --update`: edit that file, not this one. docs/kubernetes.md#alerts says
# what each alert catches and misses. Your Prometheus selects rules by label (ruleSelector):
# kube-prometheus-stack wants `release: <its release name>`; add it here or with kustomize.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: lastcall
  labels:
    app.kubernetes.io/name: lastcall
    app.kubernetes.io/component: alerts
spec:
HEADER
  sed -n '/^groups:/,$p' "$rules" | sed 's/^\(.\)/  \1/'
}

if [ "${1:-}" = --update ]; then
  render >"$crd"
  echo "alerts: wrote $crd"
  exit 0
fi

if ! command -v promtool >/dev/null 2>&1; then
  echo "alerts: promtool not found (scripts/bootstrap.sh installs Debian's prometheus package)" >&2
  exit 1
fi
status=0
promtool check rules "$rules" || status=1
for test in "$repo"/tests/alerts/*_test.yaml; do
  promtool test rules "$test" || status=1
done
if ! render | cmp -s - "$crd"; then
  echo "alerts: $crd is not generated from $rules: run tests/deploy/alerts.sh --update" >&2
  render | diff "$crd" - >&2 || true
  status=1
fi
node "$here/alerts_check.js" "$rules" "$crd" || status=1
((status == 0)) && echo "alerts: ok"
exit $status
