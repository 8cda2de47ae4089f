#!/usr/bin/env node
// Drive dockerode (npm) through $DOCKER_HOST (docker-modem reads a unix://
// DOCKER_HOST itself).
//
//     NODE_PATH=<dir>/node_modules node dockerode.js IMAGE PREFIX LABEL=VALUE...
//
// Creates a volume, a network and a started container (mounting the volume,
// attached to the network) named PREFIX-{vol,net,ctr}, each with the labels
// given; then execs in the container over a hijacked connection (stdin in,
// half-close, output back), reads its logs (plain and follow mode) and checks
// what came back. Prints one "TYPE ID" line per object created, on stdout, as
// soon as it exists. Exits non-zero with a message on stderr on any error.
// Used by tests/integration/80-clients.sh.
'use strict';

const Docker = require('dockerode');
const { PassThrough } = require('stream');

function die(msg) {
  process.stderr.write(`dockerode.js: ${msg}\n`);
  process.exit(1);
}

function created(kind, id) {
  process.stdout.write(`${kind} ${id}\n`);
}

// Collect a multiplexed (non-TTY) docker stream into {stdout, stderr}.
function demux(modem, stream) {
  return new Promise((resolve, reject) => {
    const out = new PassThrough();
    const err = new PassThrough();
    const o = [];
    const e = [];
    out.on('data', (d) => o.push(d));
    err.on('data', (d) => e.push(d));
    modem.demuxStream(stream, out, err);
    stream.on('error', reject);
    stream.on('end', () => resolve({ stdout: Buffer.concat(o).toString(), stderr: Buffer.concat(e).toString() }));
  });
}

// dockerode returns a Buffer of multiplexed frames for non-follow logs.
function demuxBuffer(buf) {
  const res = { stdout: '', stderr: '' };
  let i = 0;
  while (i + 8 <= buf.length) {
    const type = buf[i];
    const len = buf.readUInt32BE(i + 4);
    const chunk = buf.slice(i + 8, i + 8 + len).toString();
    if (type === 2) res.stderr += chunk;
    else res.stdout += chunk;
    i += 8 + len;
  }
  return res;
}

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}

async function main() {
  const [image, prefix, ...labelArgs] = process.argv.slice(2);
  if (!image || !prefix) die('usage: dockerode.js IMAGE PREFIX [LABEL=VALUE...]');
  const labels = {};
  for (const a of labelArgs) {
    const i = a.indexOf('=');
    labels[a.slice(0, i)] = a.slice(i + 1);
  }
  if (!(process.env.DOCKER_HOST || '').startsWith('unix://')) die(`DOCKER_HOST is not unix://: '${process.env.DOCKER_HOST}'`);

  const docker = new Docker();
  if (docker.modem.socketPath !== process.env.DOCKER_HOST.slice(7)) {
    die(`docker-modem uses socket '${docker.modem.socketPath}', not DOCKER_HOST's`);
  }
  const ping = await docker.ping();
  if (String(ping) !== 'OK') die(`ping: ${ping}`);

  const vol = await docker.createVolume({ Name: `${prefix}-vol`, Labels: labels });
  created('volume', vol.name);
  const net = await docker.createNetwork({ Name: `${prefix}-net`, Driver: 'bridge', Labels: labels });
  created('network', net.id);

  const ctr = await docker.createContainer({
    name: `${prefix}-ctr`,
    Image: image,
    Cmd: ['sh', '-c', 'echo node-log-line; echo node-err-line >&2; exec sleep 600'],
    Labels: labels,
    HostConfig: { Binds: [`${prefix}-vol:/data`], NetworkMode: `${prefix}-net` },
  });
  created('container', ctr.id);
  await ctr.start();
  const info = await ctr.inspect();
  if (!info.State.Running) die(`container state ${info.State.Status}, expected running`);
  if (!info.NetworkSettings.Networks[`${prefix}-net`]) die(`container is not on network ${prefix}-net`);

  // exec with stdin over a hijacked connection: send data, half-close, read it back.
  const exec = await ctr.exec({
    Cmd: ['sh', '-c', 'cat > /data/f; cat /data/f; echo node-exec-err >&2; exit 4'],
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({ hijack: true, stdin: true });
  const collected = demux(docker.modem, stream);
  const payload = 'node-exec-stdin\n'.repeat(1000);
  stream.end(payload);
  const out = await withTimeout(collected, 30000, 'exec output');
  if (out.stdout !== payload) die(`exec stdout: ${out.stdout.length} bytes, expected ${payload.length}: ${JSON.stringify(out.stdout.slice(0, 80))}`);
  if (out.stderr !== 'node-exec-err\n') die(`exec stderr: ${JSON.stringify(out.stderr)}`);
  const ei = await exec.inspect();
  if (ei.ExitCode !== 4) die(`exec exit code ${ei.ExitCode}, expected 4`);

  // Logs: plain (a buffer of frames), then follow mode (a stream that stays open).
  const logs = demuxBuffer(await ctr.logs({ stdout: true, stderr: true }));
  if (!logs.stdout.includes('node-log-line\n') || !logs.stderr.includes('node-err-line\n')) {
    die(`logs: ${JSON.stringify(logs)}`);
  }
  const follow = await ctr.logs({ stdout: true, stderr: true, follow: true });
  const firstLine = await withTimeout(new Promise((resolve, reject) => {
    const o = new PassThrough();
    let acc = '';
    o.on('data', (d) => {
      acc += d.toString();
      if (acc.includes('\n')) resolve(acc.split('\n')[0]);
    });
    docker.modem.demuxStream(follow, o, new PassThrough());
    follow.on('error', reject);
  }), 30000, 'followed logs');
  follow.destroy();
  if (firstLine !== 'node-log-line') die(`first line of followed logs: ${JSON.stringify(firstLine)}`);

  // docker.run: create, attach, start, wait; output through a writable.
  const sink = new PassThrough();
  const chunks = [];
  sink.on('data', (d) => chunks.push(d));
  const [res, runCtr] = await withTimeout(
    docker.run(image, ['echo', 'node-run-output'], sink, { Labels: labels }),
    30000, 'docker.run');
  created('container', runCtr.id);
  if (res.StatusCode !== 0) die(`docker.run status ${res.StatusCode}`);
  const runOut = Buffer.concat(chunks).toString();
  if (!runOut.includes('node-run-output')) die(`docker.run output: ${JSON.stringify(runOut)}`);
  process.stdout.write('done\n');
}

main().then(() => process.exit(0), (e) => die(`${e.statusCode || ''} ${e.message}`));
