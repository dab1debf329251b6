#!/usr/bin/env node
// Static check of a Dockerfile against the rules that matter for lastcall's image (no docker
// engine, no dependencies beyond Node). The hadolint rule each check mirrors is named.
// Usage: node check_dockerfile.js [--repo DIR] DOCKERFILE
//   --repo DIR: the repository the Dockerfile builds (default: two levels up from this script);
//               used to check the build stage against scripts/bootstrap.sh and CMakeLists.txt.
// Prints one line per problem ("Dockerfile:LINE: problem") and exits 1 if there is any.
'use strict';

const fs = require('fs');
const path = require('path');

// Instructions with their first line number: continuation lines joined, comments dropped.
function parseDockerfile(text) {
  const instructions = [];
  const lines = text.split('\n');
  let current = null;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const trimmed = raw.trim();
    if (current === null && (trimmed === '' || trimmed.startsWith('#'))) continue;
    if (current !== null && trimmed.startsWith('#')) continue;  // comment inside a continuation
    const continued = /\\\s*$/.test(raw);
    const body = continued ? raw.replace(/\\\s*$/, '') : raw;
    if (current === null) current = { line: i + 1, text: body.trim() };
    else current.text += ' ' + body.trim();
    if (!continued) {
      const match = current.text.match(/^(\S+)\s*(.*)$/);
      instructions.push({ line: current.line, op: match[1].toUpperCase(), args: match[2] });
      current = null;
    }
  }
  if (current !== null) {
    const match = current.text.match(/^(\S+)\s*(.*)$/);
    instructions.push({ line: current.line, op: match[1].toUpperCase(), args: match[2] });
  }
  return instructions;
}

// Splits into stages: each starts at a FROM.
function stages(instructions) {
  const result = [];
  for (const instruction of instructions) {
    if (instruction.op === 'FROM') {
      const match = instruction.args.match(/^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$/i);
      result.push({
        from: instruction,
        image: match ? match[1] : instruction.args,
        name: match && match[2] ? match[2].toLowerCase() : null,
        body: [],
      });
    } else if (result.length > 0) {
      result[result.length - 1].body.push(instruction);
    }
  }
  return result;
}

function isJsonArray(args) {
  try {
    const value = JSON.parse(args);
    return Array.isArray(value) && value.every((item) => typeof item === 'string');
  } catch (e) {
    return false;
  }
}

// The words of one bash array NAME=( ... ) in TEXT (comments dropped first: they may hold
// parentheses), without expansions such as "${other[@]}"; null when it is absent.
function bashArray(text, name) {
  const code = text
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*/, ''))
    .join('\n');
  const match = code.match(new RegExp(`(?:^|\\n)${name}=\\(([^)]*)\\)`));
  if (!match) return null;
  return match[1].split(/\s+/).filter((word) => word && !word.startsWith('"$') && !word.startsWith('$'));
}

// scripts/bootstrap.sh's packages (everything CI installs) and libraries (what the build needs,
// a part of them); null when the file is absent.
function bootstrapPackages(repo) {
  const file = path.join(repo, 'scripts', 'bootstrap.sh');
  if (!fs.existsSync(file)) return null;
  const text = fs.readFileSync(file, 'utf8');
  const packages = bashArray(text, 'packages');
  if (!packages) return null;
  const libraries = bashArray(text, 'libraries') || [];
  return { all: new Set([...packages, ...libraries]), libraries };
}

function projectVersion(repo) {
  const file = path.join(repo, 'CMakeLists.txt');
  if (!fs.existsSync(file)) return null;
  const match = fs.readFileSync(file, 'utf8').match(/project\(\s*\S+\s+VERSION\s+([0-9.]+)/);
  return match ? match[1] : null;
}

// The name the sidecar build looks for beside its own executable (src/main.cc).
const kFullBinaryName = 'lastcall-full';

// Which of scripts/build-static.sh's outputs (`lastcall.stripped`, `lastcall-sidecar.stripped`)
// the build stages leave at SOURCE: named by it, or copied there by a `cp` in a RUN; null when
// the Dockerfile does not say (then nothing is checked).
function builtFrom(source, buildStages) {
  const named = (file) => {
    const base = path.posix.basename(file);
    return /\.stripped$/.test(base) ? base : null;
  };
  if (named(source)) return named(source);
  let found = null;
  for (const stage of buildStages) {
    for (const instruction of stage.body.filter((i) => i.op === 'RUN')) {
      const re = /(?:^|[;&|]\s*)cp\s+(?:-\S+\s+)*(\S+)\s+(\S+)/g;
      let match;
      while ((match = re.exec(instruction.args)) !== null) {
        if (match[2] === source && named(match[1])) found = named(match[1]);
      }
    }
  }
  return found;
}

function check(text, repo) {
  const problems = [];
  const problem = (instruction, message) =>
    problems.push(`${instruction ? instruction.line : 1}: ${message}`);
  const all = parseDockerfile(text);
  const list = stages(all);
  if (list.length === 0) {
    problem(null, 'no FROM instruction');
    return problems;
  }
  if (list.length < 2) {
    problem(list[0].from, 'not a multi-stage build: build in one stage, ship only the binary from a FROM scratch stage');
  }
  const names = new Set();
  for (const stage of list) {
    const image = stage.image;
    const isStage = names.has(image.toLowerCase());
    if (stage.name) names.add(stage.name);
    if (isStage || image === 'scratch' || image.startsWith('$')) continue;
    if (image.includes('@sha256:')) continue;
    const tag = image.includes(':') ? image.slice(image.lastIndexOf(':') + 1) : null;
    if (tag === null || tag.includes('/')) {
      problem(stage.from, `base image ${image} has no tag: pin it (DL3006)`);
    } else if (tag === 'latest') {
      problem(stage.from, `base image ${image} uses :latest: pin a version tag (DL3007)`);
    }
  }

  const aptInstalled = new Set();
  for (const instruction of all) {
    if (instruction.op === 'ADD') {
      if (/(^|\s)(https?|git|ftp):\/\//.test(instruction.args)) {
        problem(instruction, 'ADD of a URL: fetch in a RUN step with checksum verification, or COPY a vendored file');
      } else {
        problem(instruction, 'ADD: use COPY for files and folders (DL3020)');
      }
    }
    if (instruction.op === 'MAINTAINER') problem(instruction, 'MAINTAINER is deprecated: use a label (DL4000)');
    if (instruction.op === 'WORKDIR' && !instruction.args.startsWith('/') && !instruction.args.startsWith('$')) {
      problem(instruction, 'WORKDIR must be absolute (DL3000)');
    }
    if (instruction.op !== 'RUN') continue;
    const run = instruction.args;
    if (/(^|[;&|]\s*)apt\s/.test(run)) problem(instruction, 'use apt-get, not apt, in scripts (DL3027)');
    if (/apt-get\s+(-\S+\s+)*install/.test(run)) {
      if (!/--no-install-recommends/.test(run)) {
        problem(instruction, 'apt-get install without --no-install-recommends (DL3015)');
      }
      if (!/apt-get\s+(\S+\s+)*(-y|--yes|--assume-yes|-\S*y)\b/.test(run)) {
        problem(instruction, 'apt-get install without -y (DL3014)');
      }
      if (!/apt-get\s+(-\S+\s+)*update/.test(run)) {
        problem(instruction, 'apt-get install without apt-get update in the same RUN (stale lists)');
      }
      if (!/rm\s+-(rf|fr|r)\s+\/var\/lib\/apt\/lists/.test(run)) {
        problem(instruction, 'apt-get lists not removed in the same RUN: rm -rf /var/lib/apt/lists/* (DL3009)');
      }
      const packages = bootstrapPackages(repo);
      if (packages) {
        const installed = run
          .replace(/^[\s\S]*?apt-get\s+(-\S+\s+)*install/, '')
          .split(/&&|;|\|/)[0]
          .split(/\s+/)
          .filter((word) => word && !word.startsWith('-'));
        for (const name of installed) {
          aptInstalled.add(name);
          if (!packages.all.has(name)) {
            problem(instruction, `package ${name} is not in scripts/bootstrap.sh: the image must build with what CI builds with`);
          }
        }
      }
    }
  }

  // The converse: a library the build needs and the build stage does not install fails only in
  // a real `docker build` (CI builds the image without one), at CMake's find_package.
  const bootstrap = bootstrapPackages(repo);
  const buildRun = all.find((i) => i.op === 'RUN' && /scripts\/build-static\.sh/.test(i.args));
  if (bootstrap && buildRun) {
    for (const name of bootstrap.libraries) {
      if (!aptInstalled.has(name)) {
        problem(buildRun, `the build stage does not install ${name}, which the build needs (scripts/bootstrap.sh's libraries)`);
      }
    }
  }

  const final = list[list.length - 1];
  const finalImage = final.image;
  if (!(finalImage === 'scratch' || /^gcr\.io\/distroless\/static(-debian\d+)?(:|@)/.test(finalImage))) {
    problem(final.from, `final stage is FROM ${finalImage}: ship FROM scratch (or gcr.io/distroless/static), nothing but the binary`);
  }
  const finalBody = final.body;
  const users = finalBody.filter((i) => i.op === 'USER');
  if (users.length === 0) {
    problem(final.from, 'final stage sets no USER: run as a non-root numeric UID (65532) (DL3002)');
  } else {
    const user = users[users.length - 1];
    const match = user.args.match(/^(\d+)(?::(\d+))?$/);
    if (!match) {
      problem(user, `USER ${user.args}: use a numeric UID[:GID] (a name needs /etc/passwd, and runAsNonRoot cannot verify it)`);
    } else if (match[1] === '0' || match[2] === '0') {
      problem(user, `USER ${user.args}: must not be root (DL3002)`);
    }
  }
  for (const instruction of finalBody) {
    if (instruction.op === 'RUN') {
      problem(instruction, 'RUN in the final stage: it has no shell; do the work in the build stage');
    }
  }
  const entrypoints = finalBody.filter((i) => i.op === 'ENTRYPOINT');
  if (entrypoints.length === 0) {
    problem(final.from, 'final stage has no ENTRYPOINT');
  }
  for (const instruction of finalBody.filter((i) => i.op === 'ENTRYPOINT' || i.op === 'CMD')) {
    if (!isJsonArray(instruction.args)) {
      problem(instruction, `${instruction.op} in shell form: use the exec (JSON array) form; the image has no shell (DL3025)`);
    }
  }
  const copies = finalBody.filter((i) => i.op === 'COPY');
  const destinations = new Map();  // destination -> {copy, source}
  const buildStages = list.slice(0, -1).map((s) => s.name).filter(Boolean);
  for (const copy of copies) {
    const words = copy.args.split(/\s+/);
    const from = words.find((w) => w.startsWith('--from='));
    const rest = words.filter((w) => !w.startsWith('--'));
    if (!from || !buildStages.includes(from.slice('--from='.length).toLowerCase())) {
      problem(copy, 'final stage COPY must take the binary from the build stage (COPY --from=<build stage>)');
      continue;
    }
    if (rest.length !== 2 || rest[0].endsWith('/') || rest[0] === '.' || rest[0].includes('*')) {
      problem(copy, `final stage copies ${rest.slice(0, -1).join(' ')}: copy only the binary (one file per COPY)`);
    }
    const destination = rest[rest.length - 1];
    if (destinations.has(destination)) problem(copy, `final stage copies to ${destination} twice`);
    destinations.set(destination, { copy, source: rest[0] });
  }
  if (copies.length === 0) problem(final.from, 'final stage copies nothing: it must copy the binary from the build stage');
  const entrypoint = entrypoints.length ? entrypoints[entrypoints.length - 1] : null;
  if (entrypoint && isJsonArray(entrypoint.args)) {
    const program = JSON.parse(entrypoint.args)[0];
    if (!destinations.has(program)) {
      problem(entrypoint, `ENTRYPOINT runs ${program}, which the final stage does not copy`);
    } else {
      // The entrypoint is the sidecar build, what every pod runs; the full binary sits beside it
      // under the name the sidecar build hands the laptop tools to (src/main.cc).
      const full = path.posix.join(path.posix.dirname(program), kFullBinaryName);
      const builds = [[program, 'lastcall-sidecar.stripped', 'the sidecar build, what every pod runs']];
      if (!destinations.has(full)) {
        problem(final.from, `final stage does not copy the full binary to ${full}, beside the ENTRYPOINT ${program}: the sidecar build hands inject, uninject and rehearse to it`);
      } else {
        builds.push([full, 'lastcall.stripped', 'the full binary, every subcommand']);
      }
      for (const [destination, want, what] of builds) {
        const { copy, source } = destinations.get(destination);
        const built = builtFrom(source, list.slice(0, -1));
        if (built !== null && built !== want) {
          problem(copy, `${destination} is ${built}: it must be ${want}, ${what} (scripts/build-static.sh)`);
        }
      }
    }
  }

  const labels = finalBody.filter((i) => i.op === 'LABEL').map((i) => i.args).join(' ');
  for (const key of ['title', 'description', 'version', 'source']) {
    if (!labels.includes(`org.opencontainers.image.${key}=`)) {
      problem(final.from, `final stage has no label org.opencontainers.image.${key}`);
    }
  }
  const version = projectVersion(repo);
  const versionArg = finalBody.find((i) => i.op === 'ARG' && /^VERSION=/.test(i.args));
  if (version && versionArg && versionArg.args !== `VERSION=${version}`) {
    problem(versionArg, `ARG ${versionArg.args} differs from CMakeLists.txt's project VERSION ${version}`);
  }

  const buildStage = list.slice(0, -1);
  const runsScript = buildStage.some((stage) =>
    stage.body.some((i) => i.op === 'RUN' && /(^|\s|\/)scripts\/build-static\.sh(\s|$)/.test(i.args)));
  if (list.length >= 2 && !runsScript) {
    problem(list[0].from, 'the build stage does not run scripts/build-static.sh, the static build CI exercises');
  }
  return problems;
}

function main(argv) {
  let repo = path.resolve(__dirname, '..', '..');
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--repo') repo = argv[++i];
    else files.push(argv[i]);
  }
  if (files.length !== 1) {
    console.error('usage: check_dockerfile.js [--repo DIR] DOCKERFILE');
    return 2;
  }
  let text;
  try {
    text = fs.readFileSync(files[0], 'utf8');
  } catch (e) {
    console.error(`${files[0]}: ${e.message}`);
    return 2;
  }
  const problems = check(text, repo).sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
  for (const p of problems) console.log(`${files[0]}:${p}`);
  return problems.length ? 1 : 0;
}

if (require.main === module) process.exit(main(process.argv.slice(2)));
module.exports = { check, parseDockerfile, stages };
