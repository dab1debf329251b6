#!/usr/bin/env bash
# Offline validation of lastcall's Kubernetes manifests: renders each kustomize overlay under
# deploy/kubernetes/overlays and each kustomization under tests/deploy/fixtures/kustomize (the
# component deploy/kubernetes/components/lastcall in a user's own kustomization) with the
# LastcallInject transformer plugin (deploy/kubernetes/plugin, running $LASTCALL_BIN as lastcall), and validates
# every object against the Kubernetes OpenAPI schema and lastcall's wiring (validate.js: probes, preStop hook <-> config, grace period >= budget,
# resources, securityContext). Also validates `lastcall inject`'s reviewed outputs
# (tests/fixtures/inject/*.{injected,native}.yaml) and, when the built binary has `inject`,
# what the binary itself produces from the same inputs. Runs `lastcall check` on each workload's
# configuration when the binary supports it.
# Usage: tests/deploy/validate.sh            (everything above)
#        tests/deploy/validate.sh FILE...    (validate these manifests; "-" = stdin)
# Env:   LASTCALL_BIN (default build/lastcall)
# Needs: node, npm (first run: installs tests/deploy/node_modules from package-lock.json), and a
#        kustomize >= v4 (kubectl >= 1.24 has one built in; `kustomize` works too).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
lastcall=${LASTCALL_BIN:-$repo/build/lastcall}
# Not for the lastcall this script runs: it reads LASTCALL_* as its own settings.
unset LASTCALL_BIN
version=$(sed -n 's/^project(lastcall VERSION \([0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")

if [ ! -d "$here/node_modules" ]; then
  echo "validate: installing the validator's npm packages (package-lock.json)"
  (cd "$here" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error) || {
    echo "validate: npm ci failed: no network and no npm cache?" >&2
    exit 1
  }
fi

validate() {  # validate FILE...
  node "$here/validate.js" --version "$version" --lastcall "$lastcall" "$@"
}

if [ $# -gt 0 ]; then
  validate "$@"
  exit
fi

# The overlays need kustomize v4+ (resources: ../../base, replacements, JSON patches).
render=()
if command -v kubectl >/dev/null 2>&1; then
  kustomize_version=$(kubectl version --client -o json 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).kustomizeVersion||"")}catch(e){console.log("")}})')
  if [[ $kustomize_version =~ ^v([4-9]|[1-9][0-9]) ]]; then render=(kubectl kustomize); fi
fi
if [ ${#render[@]} -eq 0 ] && command -v kustomize >/dev/null 2>&1; then render=(kustomize build); fi
if [ ${#render[@]} -eq 0 ]; then
  echo "validate: no kustomize >= v4: need kubectl >= 1.24 or kustomize (Debian 12's kubectl 1.20 embeds kustomize v2.0.3, too old)" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
files=()
# The component and two overlays run `lastcall inject` as a kustomize transformer: the plugin
# directory, the flag that allows it, and this build's binary.
if [ ! -x "$lastcall" ] || ! "$lastcall" inject --help >/dev/null 2>&1; then
  echo "validate: $lastcall has no inject: build it first (the overlays render through it)" >&2
  exit 1
fi
mkdir "$work/bin"
ln -s "$(cd "$(dirname "$lastcall")" && pwd)/$(basename "$lastcall")" "$work/bin/lastcall"
export KUSTOMIZE_PLUGIN_HOME=$repo/deploy/kubernetes/plugin PATH=$work/bin:$PATH
render+=(--enable-alpha-plugins)
# The overlays, and a user's own kustomization that adds lastcall with the component
# (fixtures/kustomize/*).
for overlay in "$repo"/deploy/kubernetes/overlays/*/ "$here"/fixtures/kustomize/*/; do
  name=$(basename "$overlay")
  if ! "${render[@]}" "$overlay" >"$work/$name.yaml" 2>"$work/$name.err"; then
    echo "FAIL: ${render[*]} $overlay:" >&2
    cat "$work/$name.err" >&2
    exit 1
  fi
  files+=("$work/$name.yaml")
done
# `lastcall inject`'s reviewed outputs (tests/fixtures/inject/cases.txt: OUTPUT INPUT FLAGS...),
# validated on their own: a workload inject skipped on purpose has no lastcall container.
inject_files=("$repo"/tests/fixtures/inject/*.injected.yaml "$repo"/tests/fixtures/inject/*.native.yaml)

# What the built binary injects must be what the unit tests reviewed (and valid, checked below).
# (The help captured whole: `| grep -q` would close the pipe early, and under pipefail the
# binary's SIGPIPE would make this skip now and then.)
if [ -x "$lastcall" ] && [[ "$("$lastcall" inject --help 2>/dev/null)" == *--strict* ]]; then
  while read -r golden input flags; do
    case "$golden" in '' | '#'*) continue ;; esac
    read -r -a flag_list <<<"$flags"
    out="$work/binary-$golden"
    if ! "$lastcall" inject "${flag_list[@]}" - <"$repo/tests/fixtures/inject/$input" >"$out" 2>"$out.err"; then
      echo "FAIL: lastcall inject $flags < $input:" >&2
      cat "$out.err" >&2
      exit 1
    fi
    if ! cmp -s "$out" "$repo/tests/fixtures/inject/$golden"; then
      echo "FAIL: lastcall inject $flags < $input differs from $golden:" >&2
      diff "$repo/tests/fixtures/inject/$golden" "$out" >&2 || true
      exit 1
    fi
    # uninject gives the input back byte for byte.
    if ! "$lastcall" uninject "$out" 2>/dev/null | cmp -s - "$repo/tests/fixtures/inject/$input"; then
      echo "FAIL: lastcall uninject of $golden does not give $input back" >&2
      exit 1
    fi
    [ "$golden" != "$input" ] && inject_files+=("$out")
  done <"$repo/tests/fixtures/inject/cases.txt"
else
  echo "skip: $lastcall has no inject --strict yet; validating the reviewed inject outputs only"
fi

validate "${files[@]}"
validate --allow-uninjected "${inject_files[@]}"

# The admission webhook (deploy/kubernetes/webhook): its own Deployment runs no lastcall sidecar.
# cert-manager's Certificate and Issuer have no schema here: check_webhook.js checks them, and
# what the webhook's manifests must say beyond the schema.
for variant in base cert-manager; do
  rendered="$work/webhook-$variant.yaml"
  if ! "${render[@]}" "$repo/deploy/kubernetes/webhook/$variant" >"$rendered" 2>"$rendered.err"; then
    echo "FAIL: ${render[*]} deploy/kubernetes/webhook/$variant:" >&2
    cat "$rendered.err" >&2
    exit 1
  fi
  (cd "$here" && node -e 'const Y=require("yaml"),fs=require("fs");const docs=Y.parseAllDocuments(fs.readFileSync(0,"utf8")).map(d=>d.toJS()).filter(o=>o&&!String(o.apiVersion).startsWith("cert-manager.io/"));process.stdout.write(docs.map(o=>"---\n"+Y.stringify(o)).join(""))') \
    <"$rendered" >"$rendered.core.yaml"
  validate --allow-uninjected "$rendered.core.yaml"
  flags=()
  [ "$variant" = cert-manager ] && flags=(--cert-manager)
  node "$here/check_webhook.js" "${flags[@]}" "$rendered"
done
