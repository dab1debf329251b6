#!/usr/bin/env node
// Checks that an image scripts/build-image.sh built is the image the Dockerfile's final stage
// describes, so the two cannot drift: USER, ENTRYPOINT, CMD, EXPOSE, ENV, WORKDIR, STOPSIGNAL,
// every LABEL (ARGs substituted), and the files: exactly the final stage's COPY destinations
// (the sidecar build as /lastcall, the full binary as /lastcall-full), root-owned, mode 0755,
// each with the bytes of the build it must be.
// Usage: node image_matches_dockerfile.js --dockerfile FILE --layout DIR --tag TAG
//          [--arg NAME=VALUE]... [--file /DEST=FILE]...
//   --arg: a build argument as the image was built with it (default: the ARG's default)
//   --file: the image's /DEST must hold FILE's bytes (e.g. --file /lastcall=lastcall-sidecar.stripped)
// Prints one line per difference and exits 1 if there is any; 2 on usage or unreadable input.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { parseDockerfile, stages } = require('./check_dockerfile.js');

// BuildKit gives every image without a PATH this one (as the OCI image spec suggests).
const kDefaultPath = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

// Replaces ${NAME} and $NAME by the build argument's value.
function substitute(text, args) {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced, bare) => {
    const name = braced || bare;
    return Object.prototype.hasOwnProperty.call(args, name) ? args[name] : whole;
  });
}

// Splits `key="value with spaces" key2=value2` (LABEL, ENV) into [key, value] pairs.
function keyValues(text) {
  const pairs = [];
  const re = /([^\s=]+)=("((?:[^"\\]|\\.)*)"|(\S*))/g;
  let match;
  while ((match = re.exec(text)) !== null) {
    const value = match[3] !== undefined ? match[3].replace(/\\(.)/g, '$1') : match[4];
    pairs.push([match[1], value]);
  }
  return pairs;
}

// What the Dockerfile's final stage says the image is.
function expectedImage(dockerfileText, overrides) {
  const list = stages(parseDockerfile(dockerfileText));
  const final = list[list.length - 1];
  const args = {};
  const expected = {
    user: '', entrypoint: null, cmd: null, ports: [], env: [], workdir: '', stopsignal: '',
    labels: {}, files: [],
  };
  for (const instruction of final.body) {
    const text = substitute(instruction.args, args);
    switch (instruction.op) {
      case 'ARG': {
        const [name, ...rest] = instruction.args.split('=');
        args[name] = name in overrides ? overrides[name] : rest.join('=');
        break;
      }
      case 'USER': expected.user = text; break;
      case 'ENTRYPOINT': expected.entrypoint = JSON.parse(text); break;
      case 'CMD': expected.cmd = JSON.parse(text); break;
      case 'EXPOSE':
        for (const port of text.split(/\s+/).filter(Boolean)) {
          expected.ports.push(port.includes('/') ? port : `${port}/tcp`);
        }
        break;
      case 'ENV': for (const [k, v] of keyValues(text)) expected.env.push(`${k}=${v}`); break;
      case 'WORKDIR': expected.workdir = text; break;
      case 'STOPSIGNAL': expected.stopsignal = text; break;
      case 'LABEL': for (const [k, v] of keyValues(text)) expected.labels[k] = v; break;
      case 'COPY': {
        const words = text.split(/\s+/).filter((w) => !w.startsWith('--'));
        expected.files.push(words[words.length - 1].replace(/^\//, ''));
        break;
      }
      default: break;
    }
  }
  if (!expected.env.some((e) => e.startsWith('PATH='))) expected.env.push(kDefaultPath);
  return expected;
}

// The entries of a (gzipped) tar layer: {name, mode, uid, gid, type, data}.
function tarEntries(buffer) {
  const tar = buffer[0] === 0x1f && buffer[1] === 0x8b ? zlib.gunzipSync(buffer) : buffer;
  const entries = [];
  let paxPath = null;
  for (let offset = 0; offset + 512 <= tar.length;) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start, length) => header.toString('latin1', start, start + length).replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1) || '0';
    const prefix = field(345, 155);
    const data = tar.subarray(offset + 512, offset + 512 + size);
    if (data.length < size) throw new Error(`layer truncated in ${field(0, 100)}`);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x' || type === 'g') {
      const match = data.toString('utf8').match(/^\d+ path=(.*)$/m);
      if (type === 'x' && match) paxPath = match[1];
      continue;
    }
    const name = paxPath || (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    paxPath = null;
    entries.push({
      name: name.replace(/^\.\//, '').replace(/\/$/, ''),
      mode: parseInt(field(100, 8).trim(), 8),
      uid: parseInt(field(108, 8).trim() || '0', 8),
      gid: parseInt(field(116, 8).trim() || '0', 8),
      type,
      data,
    });
  }
  return entries;
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function compare(expected, layout, tag, contents = {}) {
  const problems = [];
  const blob = (digest) => path.join(layout, 'blobs', digest.replace(':', path.sep));
  const ref = readJson(path.join(layout, 'index.json')).manifests.find(
    (m) => (m.annotations || {})['org.opencontainers.image.ref.name'] === tag);
  if (!ref) return [`no image tagged ${tag} in ${layout}`];
  const manifest = readJson(blob(ref.digest));
  const config = readJson(blob(manifest.config.digest));
  const c = config.config || {};
  const same = (what, want, got) => {
    if (JSON.stringify(want) !== JSON.stringify(got)) {
      problems.push(`${what}: Dockerfile ${JSON.stringify(want)}, image ${JSON.stringify(got)}`);
    }
  };
  same('USER', expected.user, c.User || '');
  same('ENTRYPOINT', expected.entrypoint, c.Entrypoint || null);
  same('CMD', expected.cmd, c.Cmd || null);
  same('EXPOSE', [...expected.ports].sort(), Object.keys(c.ExposedPorts || {}).sort());
  same('ENV', [...expected.env].sort(), [...(c.Env || [])].sort());
  same('WORKDIR', expected.workdir, c.WorkingDir || '');
  same('STOPSIGNAL', expected.stopsignal, c.StopSignal || '');
  const labels = c.Labels || {};
  for (const key of new Set([...Object.keys(expected.labels), ...Object.keys(labels)])) {
    same(`LABEL ${key}`, expected.labels[key], labels[key]);
  }
  if (config.os !== 'linux') problems.push(`os: image ${config.os}, want linux`);

  const files = manifest.layers.flatMap((layer) => tarEntries(fs.readFileSync(blob(layer.digest))))
    .filter((entry) => entry.name !== '' && entry.name !== '.');
  same('files', [...expected.files].sort(), files.map((f) => f.name).sort());
  for (const file of files) {
    if (file.type !== '0') problems.push(`/${file.name}: not a regular file (tar type ${file.type})`);
    if (file.mode !== 0o755) problems.push(`/${file.name}: mode ${file.mode.toString(8)}, COPY gives 755`);
    if (file.uid !== 0 || file.gid !== 0) {
      problems.push(`/${file.name}: owner ${file.uid}:${file.gid}, COPY gives 0:0`);
    }
  }
  const sha = (data) => crypto.createHash('sha256').update(data).digest('hex');
  for (const [destination, source] of Object.entries(contents)) {
    // The last layer that writes a path is what the container sees.
    const file = files.filter((f) => f.name === destination.replace(/^\//, '')).pop();
    if (!file) {
      problems.push(`${destination}: not in the image (--file ${destination}=${source})`);
    } else if (sha(file.data) !== sha(fs.readFileSync(source))) {
      problems.push(`${destination}: differs from ${source}`);
    }
  }
  return problems;
}

function main(argv) {
  const opts = { args: {}, files: {} };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[++i];
    if (value === undefined) return usage(`${flag} needs a value`);
    if (flag === '--arg') {
      const eq = value.indexOf('=');
      if (eq < 1) return usage(`--arg ${value}: want NAME=VALUE`);
      opts.args[value.slice(0, eq)] = value.slice(eq + 1);
    } else if (flag === '--file') {
      const eq = value.indexOf('=');
      if (!value.startsWith('/') || eq < 2 || eq === value.length - 1) {
        return usage(`--file ${value}: want /DEST=FILE`);
      }
      opts.files[value.slice(0, eq)] = value.slice(eq + 1);
    } else if (['--dockerfile', '--layout', '--tag'].includes(flag)) {
      opts[flag.slice(2)] = value;
    } else {
      return usage(`unknown flag ${flag}`);
    }
  }
  if (!opts.dockerfile || !opts.layout || !opts.tag) return usage('--dockerfile, --layout and --tag are required');
  let problems;
  try {
    const expected = expectedImage(fs.readFileSync(opts.dockerfile, 'utf8'), opts.args);
    problems = compare(expected, opts.layout, opts.tag, opts.files);
  } catch (e) {
    console.error(`image_matches_dockerfile: ${e.message}`);
    return 2;
  }
  for (const p of problems) console.log(`${opts.dockerfile} vs ${opts.layout}:${opts.tag}: ${p}`);
  return problems.length ? 1 : 0;
}

function usage(message) {
  console.error(`image_matches_dockerfile: ${message}\nusage: image_matches_dockerfile.js --dockerfile FILE --layout DIR --tag TAG [--arg NAME=VALUE]... [--file /DEST=FILE]...`);
  return 2;
}

if (require.main === module) process.exit(main(process.argv.slice(2)));
module.exports = { expectedImage, tarEntries, compare };
