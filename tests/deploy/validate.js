#!/usr/bin/env node
// Offline validation of Kubernetes manifests that run lastcall:
//   1. every object against the Kubernetes OpenAPI schema (the kubernetes-models package, which
//      knows native sidecars: initContainers[].restartPolicy), plus unknown fields, which the
//      schema alone lets through (kubectl --validate=strict would reject them);
//   2. the wiring of every workload: lastcall's probes, the app's preStop hook reaching lastcall
//      (exec through the shared binary and Unix socket, or httpGet with the token), the grace
//      period holding lastcall's budget as `lastcall check` computes it, resources and
//      securityContext;
//   3. optionally `lastcall check` itself on the configuration each workload gives lastcall.
// Usage: node validate.js [--lastcall BIN] [--version V] FILE...   (FILE "-" = stdin)
// Each FILE is one bundle: objects refer to each other (ConfigMap, Secret) within it.
// Prints problems as "FILE: Kind name: problem" and exits 1 if there is any.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const YAML = require('yaml');

// ---- lastcall's configuration, as PRODUCT.md §4 and src/config/config.h define it ------------------

const kBudgetMarginMs = 2000;  // Config::kBudgetMargin
const kDefaultGraceSeconds = 30;  // Kubernetes' default terminationGracePeriodSeconds
const kImageBinary = '/lastcall';  // the binary in lastcall's image (Dockerfile ENTRYPOINT)
const kImageFiles = [kImageBinary, '/lastcall-full'];  // the image's files (the Dockerfile's COPYs)
const kImageGid = 65532;  // the image's USER group

const DEFAULTS = {
  listen: ':9901',
  control: 'unix:///var/run/lastcall/control.sock',
  token_file: '',
  lb_delay: 5000,
  drain_timeout: 20000,
  exit_delay: 0,
  grace_period: 30000,
};

// YAML keys lastcall accepts (nested objects as sub-tables; true = a leaf).
const CONFIG_KEYS = {
  listen: true,
  control: true,
  token_file: true,
  state_file: true,
  readiness: { upstream: true, interval: true, timeout: true },
  shutdown: {
    signals: true,
    lb_delay: true,
    drain: {
      trigger: { url: true, method: true, headers: true, timeout: true },
      monitor: {
        kind: true, url: true, field: true, metric: true, ports: true, drained_status: true,
        drained_at: true, interval: true, settle: true, timeout: true, refused_means: true,
        count_close_wait: true, count: true, multiplexed_ports: true,
      },
      timeout: true,
    },
    exit_delay: true,
    grace_period: true,
    skip_lb_delay_when_app_gone: true,
    recover_after: true,
    proxy_quit: { url: true, method: true, timeout: true },
  },
  log: { format: true, level: true },
};

// Flags of `lastcall run` that take a value, and the setting each one sets (null: not one the
// wiring check needs).
const RUN_FLAGS = {
  '-c': 'config', '--config': 'config',
  '--listen': 'listen', '--control': 'control', '--token-file': 'token_file',
  '--lb-delay': 'lb_delay', '--drain-timeout': 'drain_timeout', '--exit-delay': 'exit_delay',
  '--grace-period': 'grace_period',
  '--readiness-upstream': null, '--signals': null, '--drain-url': null, '--drain-method': null,
  '--monitor': null, '--monitor-url': null, '--monitor-field': null, '--monitor-metric': null,
  '--monitor-port': null, '--drained-at': null, '--poll-interval': null, '--settle': null,
  '--log-format': null, '--log-level': null, '--refused-means': null,
  '--monitor-count': null, '--multiplexed-port': null,
  '--proxy-quit-url': null, '--proxy-quit-method': null, '--proxy-quit-timeout': null,
};
const DURATION_SETTINGS = new Set(['lb_delay', 'drain_timeout', 'exit_delay', 'grace_period']);

// Go-style durations as lastcall parses them: "250ms", "5s", "1m30s", "1.5s"; "0" alone.
function parseDuration(text) {
  const s = String(text).trim();
  if (s === '0') return 0;
  const units = { h: 3600000, m: 60000, s: 1000, ms: 1 };
  const re = /(\d+(?:\.\d*)?|\.\d+)(ms|h|m|s)/y;
  let total = 0;
  let pos = 0;
  if (s.length === 0) return null;
  while (pos < s.length) {
    re.lastIndex = pos;
    const match = re.exec(s);
    if (!match) return null;
    total += parseFloat(match[1]) * units[match[2]];
    pos = re.lastIndex;
  }
  return Math.round(total);
}

function formatMs(ms) {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

// Unknown keys in lastcall.yaml, as "a.b.c" paths.
function unknownConfigKeys(value, table, prefix = '') {
  const unknown = [];
  if (!value || typeof value !== 'object' || Array.isArray(value)) return unknown;
  for (const key of Object.keys(value)) {
    const spec = table[key];
    if (spec === undefined) unknown.push(prefix + key);
    else if (spec !== true) unknownConfigKeys(value[key], spec, `${prefix}${key}.`).forEach((k) => unknown.push(k));
  }
  return unknown;
}

// The effective settings: defaults < YAML file < environment < flags. `explicit` records which
// settings were given (grace_period must then equal the pod's).
function effectiveConfig({ yamlText, env, flags }) {
  const config = { ...DEFAULTS };
  const explicit = new Set();
  const problems = [];
  const setDuration = (key, value, where) => {
    const ms = parseDuration(value);
    if (ms === null) problems.push(`${where}: "${value}" is not a duration`);
    else config[key] = ms;
    explicit.add(key);
  };
  if (yamlText !== undefined) {
    let doc;
    try {
      doc = YAML.parse(yamlText) || {};
    } catch (e) {
      problems.push(`lastcall.yaml: invalid YAML: ${e.message}`);
      doc = {};
    }
    for (const key of unknownConfigKeys(doc, CONFIG_KEYS)) problems.push(`lastcall.yaml: unknown key ${key}`);
    for (const key of ['listen', 'control', 'token_file']) {
      if (doc[key] !== undefined) {
        config[key] = String(doc[key]);
        explicit.add(key);
      }
    }
    const shutdown = doc.shutdown || {};
    if (shutdown.lb_delay !== undefined) setDuration('lb_delay', shutdown.lb_delay, 'shutdown.lb_delay');
    if (shutdown.drain && shutdown.drain.timeout !== undefined) setDuration('drain_timeout', shutdown.drain.timeout, 'shutdown.drain.timeout');
    if (shutdown.exit_delay !== undefined) setDuration('exit_delay', shutdown.exit_delay, 'shutdown.exit_delay');
    if (shutdown.grace_period !== undefined) setDuration('grace_period', shutdown.grace_period, 'shutdown.grace_period');
  }
  for (const [source, values] of [['env', env], ['flag', flags]]) {
    for (const [key, value] of Object.entries(values || {})) {
      const where = source === 'env' ? `LASTCALL_${key.toUpperCase()}` : `--${key.replace(/_/g, '-')}`;
      if (DURATION_SETTINGS.has(key)) setDuration(key, value, where);
      else {
        config[key] = value;
        explicit.add(key);
      }
    }
  }
  return { config, explicit, problems };
}

// `lastcall run` arguments: {config, flags, problems}.
function parseRunArgs(args) {
  const result = { config: null, flags: {}, problems: [] };
  if (!args.length || args[0] !== 'run') {
    result.problems.push(`lastcall's args must start with "run" (they are ${JSON.stringify(args)})`);
    return result;
  }
  for (let i = 1; i < args.length; i++) {
    const arg = args[i];
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (!(name in RUN_FLAGS)) {
      result.problems.push(`unknown argument for lastcall run: ${arg}`);
      continue;
    }
    let value;
    if (name !== arg) value = arg.slice(eq + 1);
    else if (i + 1 < args.length) value = args[++i];
    else {
      result.problems.push(`${arg} needs a value`);
      continue;
    }
    const setting = RUN_FLAGS[name];
    if (setting === 'config') result.config = value;
    else if (setting) result.flags[setting] = value;
  }
  return result;
}

function listenPort(listen) {
  const match = String(listen).match(/:(\d+)$/);
  return match ? Number(match[1]) : null;
}

// ---- schema ---------------------------------------------------------------------------------

function loadModel(apiVersion, kind) {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !/^[A-Za-z0-9]+$/.test(kind)) return null;
  try {
    return require(`kubernetes-models/${apiVersion}/${kind}`)[kind] || null;
  } catch (e) {
    return null;
  }
}

function schemaErrors(Model, object) {
  try {
    new Model(object).validate();
    return null;
  } catch (e) {
    const details = (e.errors || []).map((err) => {
      const where = err.instancePath || '/';
      const extra = err.params && err.params.allowedValues ? ` (${err.params.allowedValues.join(', ')})` : '';
      return `${where} ${err.message || err.keyword}${extra}`;
    });
    return details.length ? details : [e.message];
  }
}

// Fields the schema does not know. The generated validators ignore unknown keys, so each key is
// probed: replaced by a value of no JSON type, a known field fails validation, an unknown one
// does not. (Valid objects only; a few microseconds per key.)
function unknownFields(Model, object) {
  const unknown = [];
  const probe = Symbol('probe');
  const walk = (value, pointer) => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, `${pointer}/${i}`));
      return;
    }
    if (!value || typeof value !== 'object') return;
    for (const key of Object.keys(value)) {
      const saved = value[key];
      value[key] = probe;
      const known = schemaErrors(Model, object) !== null;
      value[key] = saved;
      if (!known) unknown.push(`${pointer}/${key}`);
      else walk(saved, `${pointer}/${key}`);
    }
  };
  walk(object, '');
  return unknown.filter((p) => p !== '/apiVersion' && p !== '/kind');
}

// ---- wiring ---------------------------------------------------------------------------------

const POD_SPEC_PATHS = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  ReplicationController: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

function podSpecOf(object) {
  const keys = POD_SPEC_PATHS[object.kind];
  if (!keys) return null;
  let node = object;
  for (const key of keys) {
    node = node && node[key];
  }
  return node || null;
}

// Which volume (and path inside it) a container sees at `file`: the longest mountPath prefix.
function resolveInVolume(container, file) {
  let best = null;
  for (const mount of container.volumeMounts || []) {
    const base = mount.mountPath.replace(/\/+$/, '');
    if (file === base || file.startsWith(base + '/')) {
      if (!best || base.length > best.base.length) best = { base, mount };
    }
  }
  if (!best) return null;
  const rest = file.slice(best.base.length).replace(/^\//, '');
  const inside = [best.mount.subPath || '', rest].filter(Boolean).join('/');
  return { volume: best.mount.name, path: inside, readOnly: !!best.mount.readOnly };
}

function flagValue(args, flag) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag && i + 1 < args.length) return args[i + 1];
    if (args[i].startsWith(flag + '=')) return args[i].slice(flag.length + 1);
  }
  return undefined;
}

function findObject(bundle, kind, name) {
  return bundle.find((o) => o && o.kind === kind && o.metadata && o.metadata.name === name);
}

function secretValue(secret, key) {
  if (secret.stringData && secret.stringData[key] !== undefined) return String(secret.stringData[key]);
  if (secret.data && secret.data[key] !== undefined) return Buffer.from(String(secret.data[key]), 'base64').toString('utf8');
  return undefined;
}

// The text of a file a container sees, when it comes from a ConfigMap or Secret in the bundle.
function fileFromBundle(bundle, pod, container, file) {
  const where = resolveInVolume(container, file);
  if (!where) return { error: `${file} is not in any volume lastcall mounts` };
  const volume = (pod.volumes || []).find((v) => v.name === where.volume);
  if (!volume) return { error: `volume ${where.volume} is mounted but not defined` };
  const source = volume.configMap || volume.secret;
  if (!source) return { error: `${file} is in volume ${where.volume}, which is neither a ConfigMap nor a Secret` };
  const kind = volume.configMap ? 'ConfigMap' : 'Secret';
  const name = volume.configMap ? volume.configMap.name : volume.secret.secretName;
  const object = findObject(bundle, kind, name);
  if (!object) return { error: `${kind} ${name} (volume ${where.volume}) is not in the manifests` };
  let key = where.path;
  if (source.items) {
    const item = source.items.find((i) => i.path === where.path);
    if (!item) return { error: `${file}: no item of volume ${where.volume} has path ${where.path}` };
    key = item.key;
  }
  const text = kind === 'ConfigMap' ? (object.data || {})[key] : secretValue(object, key);
  if (text === undefined) return { error: `${kind} ${name} has no key ${key} (for ${file})` };
  return { text, kind, name };
}

function probeProblems(container, which, expectedPath, port) {
  const probe = container[which];
  const problems = [];
  if (!probe) return [`lastcall has no ${which} (httpGet ${expectedPath} on ${port})`];
  if (!probe.httpGet) return [`lastcall's ${which} must be httpGet ${expectedPath} (exec probes misbehave during termination)`];
  if (probe.httpGet.path !== expectedPath) problems.push(`lastcall's ${which} path is ${probe.httpGet.path}, not ${expectedPath}`);
  let probePort = probe.httpGet.port;
  if (typeof probePort === 'string') {
    const named = (container.ports || []).find((p) => p.name === probePort);
    probePort = named ? named.containerPort : probePort;
  }
  if (probePort !== port) problems.push(`lastcall's ${which} port is ${probe.httpGet.port}, but lastcall listens on ${port}`);
  return problems;
}

function checkSecurityContext(pod, container, name) {
  const problems = [];
  const sc = container.securityContext || {};
  const psc = pod.securityContext || {};
  const get = (key) => (sc[key] !== undefined ? sc[key] : psc[key]);
  if (get('runAsNonRoot') !== true) problems.push(`${name}: securityContext.runAsNonRoot must be true`);
  const uid = get('runAsUser');
  // Unset is fine: the image's USER is numeric (65532), which runAsNonRoot accepts, and on
  // OpenShift the SCC assigns a UID from the namespace's range (lastcall inject --platform).
  if (uid === 0) problems.push(`${name}: securityContext.runAsUser must be a non-root UID (65532), or unset`);
  if (sc.readOnlyRootFilesystem !== true) problems.push(`${name}: securityContext.readOnlyRootFilesystem must be true`);
  if (sc.allowPrivilegeEscalation !== false) problems.push(`${name}: securityContext.allowPrivilegeEscalation must be false`);
  const drop = (sc.capabilities && sc.capabilities.drop) || [];
  if (!drop.includes('ALL')) problems.push(`${name}: securityContext.capabilities.drop must include ALL`);
  if ((sc.capabilities && sc.capabilities.add || []).length) problems.push(`${name}: securityContext.capabilities.add must be empty`);
  if (sc.privileged) problems.push(`${name}: must not be privileged`);
  const seccomp = get('seccompProfile');
  if (!seccomp || !['RuntimeDefault', 'Localhost'].includes(seccomp.type)) {
    problems.push(`${name}: securityContext.seccompProfile.type must be RuntimeDefault`);
  }
  return problems;
}

function checkResources(container, name) {
  const problems = [];
  const resources = container.resources || {};
  for (const part of ['requests', 'limits']) {
    for (const resource of ['cpu', 'memory']) {
      if (!resources[part] || resources[part][resource] === undefined) {
        problems.push(`${name}: resources.${part}.${resource} is not set`);
      }
    }
  }
  return problems;
}

// Rules the API server enforces beyond the OpenAPI schema, for the pod fields lastcall touches.
// `claims`: a StatefulSet's volumeClaimTemplates, volumes the pod gets without listing them.
function podRules(pod, claims = []) {
  const problems = [];
  const all = [...(pod.initContainers || []), ...(pod.containers || [])];
  const names = new Set();
  for (const c of all) {
    if (names.has(c.name)) problems.push(`two containers are named ${c.name}`);
    names.add(c.name);
  }
  const volumes = new Set(claims);
  for (const v of pod.volumes || []) {
    if (volumes.has(v.name)) problems.push(`two volumes are named ${v.name}`);
    volumes.add(v.name);
  }
  for (const c of all) {
    const paths = new Set();
    for (const m of c.volumeMounts || []) {
      if (!volumes.has(m.name)) problems.push(`container ${c.name} mounts volume ${m.name}, which the pod does not define`);
      if (paths.has(m.mountPath)) problems.push(`container ${c.name} mounts two volumes at ${m.mountPath}`);
      paths.add(m.mountPath);
    }
  }
  for (const c of pod.initContainers || []) {
    if (c.restartPolicy === 'Always') continue;
    for (const field of ['readinessProbe', 'livenessProbe', 'startupProbe', 'lifecycle']) {
      if (c[field]) problems.push(`init container ${c.name} has ${field}, allowed only with restartPolicy: Always`);
    }
  }
  return problems;
}

// A workload `lastcall inject` left alone (skipped or disabled) has no lastcall container.
function hasLastcall(object) {
  const pod = podSpecOf(object);
  return !!pod && [...(pod.containers || []), ...(pod.initContainers || [])].some((c) => c.name === 'lastcall');
}

// Everything that must line up for lastcall to work in this pod. Returns {problems, check}:
// `check` holds what `lastcall check` needs (the YAML text, flags, token, grace seconds).
function checkWorkload(object, bundle, options = {}) {
  const problems = [];
  const pod = podSpecOf(object);
  if (!pod) return { problems: [`no pod spec`] };
  const claims = ((object.spec && object.spec.volumeClaimTemplates) || []).map((t) => t.metadata && t.metadata.name);
  podRules(pod, claims).forEach((p) => problems.push(p));
  const containers = pod.containers || [];
  const inits = pod.initContainers || [];
  let lastcall = containers.find((c) => c.name === 'lastcall');
  let native = false;
  if (!lastcall) {
    lastcall = inits.find((c) => c.name === 'lastcall');
    if (!lastcall) return { problems: ['no container named lastcall'] };
    native = true;
    if (lastcall.restartPolicy !== 'Always') {
      problems.push('lastcall is an init container without restartPolicy: Always: it would block the pod\'s start forever');
    }
  }
  if (!native && ['Never', 'OnFailure'].includes(pod.restartPolicy)) {
    problems.push(`the pod's restartPolicy is ${pod.restartPolicy} and lastcall is a regular container: the pod would never complete (use a native sidecar)`);
  }
  if (lastcall.command && (lastcall.command.length !== 1 || lastcall.command[0] !== kImageBinary)) {
    problems.push(`lastcall's command must be unset or ["${kImageBinary}"] (the image's ENTRYPOINT)`);
  }
  // In lastcall's image /lastcall and /lastcall-full are files: the runtime cannot make a mount
  // point at or below them, and a container of that image mounting there never starts.
  for (const container of [...inits, ...containers].filter((c) => c.image === lastcall.image)) {
    for (const mount of container.volumeMounts || []) {
      const at = path.posix.normalize(mount.mountPath || '');
      const file = kImageFiles.find((f) => at === f || at.startsWith(`${f}/`));
      if (file) {
        problems.push(`container ${container.name} mounts ${mount.name} at ${mount.mountPath}, below ${file}, which is a file in lastcall's image: the container cannot start (mount it elsewhere, e.g. /lastcall-bin)`);
      }
    }
  }
  if (options.version) {
    const tag = (lastcall.image || '').split('@')[0].split('/').pop().split(':')[1];  // name:tag[@digest]
    if (tag && tag !== options.version && tag !== `v${options.version}`) {
      problems.push(`lastcall's image tag ${tag} is not this version (${options.version})`);
    }
  }

  // The configuration lastcall runs with.
  const run = parseRunArgs(lastcall.args || []);
  run.problems.forEach((p) => problems.push(p));
  let yamlText;
  if (run.config) {
    const file = fileFromBundle(bundle, pod, lastcall, run.config);
    if (file.error) problems.push(`-c ${run.config}: ${file.error}`);
    else yamlText = file.text;
  }
  const env = {};
  for (const variable of lastcall.env || []) {
    const match = variable.name.match(/^LASTCALL_(.+)$/);
    if (!match || variable.value === undefined) continue;
    const key = match[1].toLowerCase();
    if (Object.values(RUN_FLAGS).includes(key)) env[key] = variable.value;
  }
  const effective = effectiveConfig({ yamlText, env, flags: run.flags });
  effective.problems.forEach((p) => problems.push(p));
  const config = effective.config;
  const port = listenPort(config.listen);
  if (port === null) problems.push(`listen ${config.listen} has no port`);

  // Readiness and liveness: the pod leaves the endpoints when /readyz fails.
  probeProblems(lastcall, 'readinessProbe', '/readyz', port).forEach((p) => problems.push(p));
  const readiness = lastcall.readinessProbe || { periodSeconds: 1, failureThreshold: 1 };
  if ((readiness.periodSeconds || 10) > 2) problems.push(`lastcall's readinessProbe.periodSeconds is ${readiness.periodSeconds || 10}: use 1-2 so the pod leaves the endpoints within seconds`);
  if ((readiness.failureThreshold || 3) !== 1) problems.push(`lastcall's readinessProbe.failureThreshold is ${readiness.failureThreshold || 3}: use 1 (one 503 means shutdown started)`);
  probeProblems(lastcall, 'livenessProbe', '/livez', port).forEach((p) => problems.push(p));
  const liveness = lastcall.livenessProbe || {};
  const tolerance = (liveness.periodSeconds || 10) * (liveness.failureThreshold || 3);
  if (tolerance < 10) problems.push(`lastcall's livenessProbe restarts it after ${tolerance}s of failures: too aggressive (a restart mid-drain undoes the drain); allow at least 10s`);
  if (!(lastcall.ports || []).some((p) => p.containerPort === port)) problems.push(`lastcall does not declare containerPort ${port}`);

  checkResources(lastcall, 'lastcall').forEach((p) => problems.push(p));
  checkSecurityContext(pod, lastcall, 'lastcall').forEach((p) => problems.push(p));

  // The control socket must be on a writable volume (the root filesystem is read-only).
  const controlUnix = config.control.startsWith('unix://') ? config.control.slice('unix://'.length) : null;
  let socketVolume = null;
  if (controlUnix) {
    socketVolume = resolveInVolume(lastcall, controlUnix);
    if (!socketVolume) problems.push(`control socket ${controlUnix} is not on a volume lastcall mounts (its root filesystem is read-only)`);
    else if (socketVolume.readOnly) problems.push(`control socket ${controlUnix} is on a read-only mount`);
  }

  // The token, when configured: a file from a Secret.
  let token;
  if (config.token_file) {
    const file = fileFromBundle(bundle, pod, lastcall, config.token_file);
    if (file.error) problems.push(`token_file ${config.token_file}: ${file.error}`);
    else if (file.kind !== 'Secret') problems.push(`token_file ${config.token_file} comes from ${file.kind} ${file.name}: keep tokens in a Secret`);
    else token = file.text.trim();
  }

  // The preStop hooks that reach lastcall: one on an app container at least.
  const hooked = [];
  const controlMatches = (hookControl, where) => {
    if (hookControl !== config.control) {
      problems.push(`${where}: its control ${hookControl} is not lastcall's (${config.control})`);
      return false;
    }
    return true;
  };
  const checkExecHook = (container, command, where) => {
    const hookControl = flagValue(command, '--control') || DEFAULTS.control;
    controlMatches(hookControl, where);
    if (controlUnix && hookControl === config.control && socketVolume) {
      const seen = resolveInVolume(container, controlUnix);
      if (!seen || seen.volume !== socketVolume.volume || seen.path !== socketVolume.path) {
        problems.push(`${where}: container ${container.name} does not see lastcall's socket ${controlUnix} (mount volume ${socketVolume.volume} there)`);
      }
    }
    const timeout = flagValue(command, '--timeout');
    if (timeout !== undefined && parseDuration(timeout) === null) problems.push(`${where}: --timeout ${timeout} is not a duration`);
  };
  for (const container of containers) {
    if (container.name === 'lastcall') continue;
    const hook = container.lifecycle && container.lifecycle.preStop;
    if (!hook) continue;
    const where = `container ${container.name}'s preStop hook`;
    if (hook.exec) {
      const command = hook.exec.command || [];
      if (!(command.length >= 2 && path.posix.basename(command[0]) === 'lastcall' && command[1] === 'prestop')) continue;
      hooked.push(container.name);
      checkExecHook(container, command, where);
      // The binary: a volume an init container filled with `lastcall install --to DIR`.
      const binary = resolveInVolume(container, command[0]);
      if (!binary) {
        problems.push(`${where}: ${command[0]} is not on a volume of container ${container.name} (the app's image has no lastcall)`);
      } else {
        const installer = inits.find((init) => {
          const args = init.args || [];
          if (args[0] !== 'install' || init.restartPolicy === 'Always') return false;
          const to = flagValue(args, '--to');
          const at = to && resolveInVolume(init, `${to.replace(/\/+$/, '')}/lastcall`);
          return at && at.volume === binary.volume && at.path === binary.path;
        });
        if (!installer) problems.push(`${where}: no init container runs "lastcall install --to DIR" into volume ${binary.volume} so that ${command[0]} exists`);
        const volume = (pod.volumes || []).find((v) => v.name === binary.volume);
        if (volume && !volume.emptyDir) problems.push(`${where}: volume ${binary.volume} should be an emptyDir`);
      }
      // The socket is mode 0660, group lastcall's: the app's user must be in that group.
      if (controlUnix) {
        const psc = pod.securityContext || {};
        const csc = container.securityContext || {};
        const lsc = lastcall.securityContext || {};
        const socketGroup = psc.fsGroup !== undefined ? psc.fsGroup : (lsc.runAsGroup !== undefined ? lsc.runAsGroup : (psc.runAsGroup !== undefined ? psc.runAsGroup : kImageGid));
        const appUser = csc.runAsUser !== undefined ? csc.runAsUser : psc.runAsUser;
        const appGroup = csc.runAsGroup !== undefined ? csc.runAsGroup : psc.runAsGroup;
        const groups = psc.supplementalGroups || [];
        // Where nothing fixes the IDs (OpenShift's SCC assigns one UID to every container of the
        // pod, and an fsGroup), the app reaches the socket as its owner.
        const assigned = appUser === undefined && lsc.runAsUser === undefined && lsc.runAsGroup === undefined;
        if (!assigned && appUser !== 0 && appGroup !== socketGroup && !groups.includes(socketGroup) && psc.fsGroup === undefined) {
          problems.push(`${where}: container ${container.name} cannot connect to the control socket (mode 0660, group ${socketGroup}): add ${socketGroup} to the pod's securityContext.supplementalGroups`);
        }
      }
    } else if (hook.httpGet) {
      const get = hook.httpGet;
      const hookPath = String(get.path || '/').split('?')[0];
      if (hookPath !== '/prestop') continue;
      hooked.push(container.name);
      if (typeof get.port !== 'number') problems.push(`${where}: port ${get.port} must be lastcall's port number (a name resolves in the app's container, not lastcall's)`);
      else if (get.port !== port) problems.push(`${where}: port ${get.port}, but lastcall listens on ${port}`);
      if (get.host) problems.push(`${where}: host ${get.host} must be unset (the kubelet then calls the pod IP; 127.0.0.1 would be the node)`);
      if (get.scheme && get.scheme !== 'HTTP') problems.push(`${where}: scheme ${get.scheme}: lastcall serves plain HTTP`);
      if (!config.token_file) {
        problems.push(`${where}: lastcall serves /prestop on its listen port only with a token: set token_file`);
      } else if (token !== undefined) {
        const header = (get.httpHeaders || []).find((h) => h.name.toLowerCase() === 'authorization');
        if (!header) problems.push(`${where}: no Authorization header (Bearer <the token in ${config.token_file}>)`);
        else if (header.value !== `Bearer ${token}`) problems.push(`${where}: the Authorization header is not "Bearer " + the token lastcall reads from ${config.token_file}`);
      }
    }
  }
  if (hooked.length === 0) {
    problems.push('no app container has a preStop hook that reaches lastcall (exec: [.../lastcall, prestop] or httpGet: /prestop): without it the app gets SIGTERM before it is drained');
  }
  if (native) {
    const own = lastcall.lifecycle && lastcall.lifecycle.preStop;
    const command = own && own.exec && own.exec.command;
    if (!command || command[0] !== kImageBinary || command[1] !== 'prestop') {
      problems.push(`native sidecar lastcall needs its own preStop hook exec: ["${kImageBinary}", "prestop"] (it sees SIGTERM only after the app exited)`);
    } else {
      checkExecHook(lastcall, command, "lastcall's own preStop hook");
    }
  }

  // The budget, as `lastcall check` computes it, must fit in the grace period.
  const grace = pod.terminationGracePeriodSeconds !== undefined ? pod.terminationGracePeriodSeconds : kDefaultGraceSeconds;
  const budget = config.lb_delay + config.drain_timeout + config.exit_delay + kBudgetMarginMs;
  if (budget > grace * 1000) {
    problems.push(`terminationGracePeriodSeconds ${grace} is too short: lb_delay ${formatMs(config.lb_delay)} + drain timeout ${formatMs(config.drain_timeout)} + exit_delay ${formatMs(config.exit_delay)} + margin ${formatMs(kBudgetMarginMs)} = ${formatMs(budget)}`);
  }
  if (effective.explicit.has('grace_period') && config.grace_period !== grace * 1000) {
    problems.push(`lastcall's grace_period ${formatMs(config.grace_period)} differs from terminationGracePeriodSeconds ${grace}`);
  }
  return {
    problems,
    summary: `${native ? 'native' : 'regular'} sidecar, hook on ${hooked.join(', ') || 'nothing'}, budget ${formatMs(budget)} <= grace ${grace}s`,
    check: { yamlText, args: (lastcall.args || []).slice(1), configPath: run.config, token, tokenFile: config.token_file, grace },
  };
}

// ---- lastcall check --------------------------------------------------------------------------

function lastcallSupportsCheck(binary) {
  const help = spawnSync(binary, ['check', '--help'], { encoding: 'utf8', timeout: 10000 });
  return help.status === 0 && /--grace-period/.test(`${help.stdout}${help.stderr}`);
}

// Runs `lastcall check` with the workload's configuration: the ConfigMap's YAML written to a
// file, the same flags, the token in a file. Returns a problem string or null.
function runLastcallCheck(binary, check) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lastcall-validate-'));
  try {
    let args = [...check.args];
    if (check.configPath) {
      const file = path.join(dir, 'lastcall.yaml');
      fs.writeFileSync(file, check.yamlText || '');
      args = args.map((a, i) => (args[i - 1] === '-c' || args[i - 1] === '--config') && a === check.configPath ? file : a)
        .map((a) => (a === `--config=${check.configPath}` ? `--config=${file}` : a));
    }
    if (check.tokenFile) {
      const token = path.join(dir, 'token');
      fs.writeFileSync(token, check.token || 'placeholder', { mode: 0o600 });
      args.push('--token-file', token);
    }
    args = ['check', ...args.filter((a, i) => !(a === '--grace-period' || args[i - 1] === '--grace-period' || a.startsWith('--grace-period='))), '--grace-period', `${check.grace}s`];
    const result = spawnSync(binary, args, { encoding: 'utf8', timeout: 10000 });
    if (result.status !== 0) {
      return `lastcall ${args.join(' ')} exited ${result.status}: ${`${result.stdout}${result.stderr}`.trim()}`;
    }
    return null;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---- driver ----------------------------------------------------------------------------------

function describe(object) {
  const name = object && object.metadata && (object.metadata.name || object.metadata.generateName);
  return `${object && object.kind ? object.kind : 'object'}${name ? ` ${name}` : ''}`;
}

function parseBundle(text) {
  const objects = [];
  const problems = [];
  for (const doc of YAML.parseAllDocuments(text, { version: '1.1' })) {
    if (doc.errors.length) {
      problems.push(`invalid YAML: ${doc.errors[0].message}`);
      continue;
    }
    const value = doc.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
      value.items.forEach((item) => objects.push(item));
    } else {
      objects.push(value);
    }
  }
  return { objects, problems };
}

// Validates one bundle; returns {problems: [...], notes: [...]}.
function validateBundle(text, options = {}) {
  const { objects, problems } = parseBundle(text);
  const notes = [];
  if (objects.length === 0) problems.push('no Kubernetes objects');
  let workloads = 0;
  for (const object of objects) {
    const name = describe(object);
    const Model = object && loadModel(object.apiVersion, object.kind);
    if (!Model) {
      problems.push(`${name}: no schema for apiVersion ${object && object.apiVersion}, kind ${object && object.kind}`);
      continue;
    }
    if (POD_SPEC_PATHS[object.kind]) workloads++;
    const errors = schemaErrors(Model, object);
    if (errors) {
      errors.forEach((e) => problems.push(`${name}: schema: ${e}`));
      continue;
    }
    unknownFields(Model, object).forEach((p) => problems.push(`${name}: unknown field ${p}`));
    if (!POD_SPEC_PATHS[object.kind]) continue;
    if (options.allowUninjected && !hasLastcall(object)) {
      notes.push(`${name}: not injected (allowed: --allow-uninjected)`);
      continue;
    }
    const result = checkWorkload(object, objects, options);
    result.problems.forEach((p) => problems.push(`${name}: ${p}`));
    if (result.problems.length === 0) {
      notes.push(`${name}: ${result.summary}`);
      if (options.lastcall) {
        const failure = runLastcallCheck(options.lastcall, result.check);
        if (failure) problems.push(`${name}: ${failure}`);
        else notes.push(`${name}: lastcall check passed`);
      }
    }
  }
  if (objects.length && workloads === 0) problems.push('no workload (Deployment, Pod, ...) to check');
  return { problems, notes };
}

function main(argv) {
  const options = {};
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--lastcall') options.lastcall = argv[++i];
    else if (argv[i] === '--allow-uninjected') options.allowUninjected = true;
    else if (argv[i] === '--version') options.version = argv[++i];
    else files.push(argv[i]);
  }
  if (files.length === 0) {
    console.error('usage: validate.js [--lastcall BIN] [--version V] [--allow-uninjected] FILE...');
    return 2;
  }
  if (options.lastcall) {
    if (!fs.existsSync(options.lastcall) || !lastcallSupportsCheck(options.lastcall)) {
      console.log(`skip: ${options.lastcall} does not exist or has no "check --grace-period" yet; lastcall check not run`);
      delete options.lastcall;
    }
  }
  let failed = 0;
  for (const file of files) {
    const text = file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(file, 'utf8');
    const { problems, notes } = validateBundle(text, options);
    for (const note of notes) console.log(`ok: ${file}: ${note}`);
    for (const problem of problems) console.log(`FAIL: ${file}: ${problem}`);
    if (problems.length) failed++;
  }
  console.log(`manifests: ${files.length - failed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

if (require.main === module) process.exit(main(process.argv.slice(2)));
module.exports = { validateBundle, checkWorkload, parseDuration, effectiveConfig, parseRunArgs, parseBundle };
