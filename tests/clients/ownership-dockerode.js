#!/usr/bin/env node
// Ownership through dockerode (npm), in a session whose $DOCKER_HOST is
// ci-wrap's proxy.
//
//     NODE_PATH=<dir>/node_modules node ownership-dockerode.js JSON
//
// JSON names the objects, as for ownership-sdk.py: own, b_ctr_name, b_ctr_id,
// b_net_id, b_vol, b_img_id, out_ctr_name, out_ctr_id, label, out_refused.
// Checks that lists leave out the other session's objects and keep the others
// (filters in the map encoding dockerode passes through), that the other
// session's objects are not found (404), and that removing the outside
// container is refused (403, the message). Prints every failed check on
// stderr; exits 1 if there was one. Used by tests/integration/26-ownership.sh.
'use strict';

const Docker = require('dockerode');

const failures = [];

function check(ok, msg) {
  if (!ok) failures.push(msg);
}

// docker-modem rejects with statusCode and json (the parsed error body).
async function expectError(what, status, text, fn) {
  try {
    await fn();
  } catch (e) {
    const msg = (e.json && e.json.message) || (typeof e.json === 'string' ? e.json : '') || e.reason || e.message;
    check(e.statusCode === status && String(msg).includes(text),
      `${what}: expected ${status} with ${JSON.stringify(text)}, got ${e.statusCode} ${JSON.stringify(String(msg))}`);
    return;
  }
  failures.push(`${what}: succeeded, expected ${status} with ${JSON.stringify(text)}`);
}

async function main() {
  const a = JSON.parse(process.argv[2]);
  const docker = new Docker();

  let ids = new Set((await docker.listContainers({ all: true })).map((c) => c.Id));
  check(ids.has(a.own), "listContainers({all}) does not show the session's own container");
  check(ids.has(a.out_ctr_id), 'listContainers({all}) does not show the container made outside ci-wrap');
  check(!ids.has(a.b_ctr_id), "listContainers({all}) shows the other session's container");
  // The map encoding: {"label": {"K=V": true}}; running containers only.
  ids = new Set((await docker.listContainers({ filters: { label: { [a.label]: true } } })).map((c) => c.Id));
  check(ids.size === 2 && ids.has(a.own) && ids.has(a.out_ctr_id),
    `listContainers(filters label map): ${JSON.stringify([...ids].map((i) => i.slice(0, 12)))}, expected the own and the outside running container`);

  await expectError("inspect of the other session's container", 404, `No such container: ${a.b_ctr_name}`,
    () => docker.getContainer(a.b_ctr_name).inspect());
  await expectError("remove of the other session's container", 404, `No such container: ${a.b_ctr_id}`,
    () => docker.getContainer(a.b_ctr_id).remove({ force: true }));
  await expectError("pause of the other session's container", 404, `No such container: ${a.b_ctr_name}`,
    () => docker.getContainer(a.b_ctr_name).pause());

  const info = await docker.getContainer(a.out_ctr_name).inspect();
  check(info.Id === a.out_ctr_id, 'inspect of the outside container returned another container');
  await expectError('remove of the outside container', 403, a.out_refused,
    () => docker.getContainer(a.out_ctr_name).remove({ force: true }));
  await expectError('kill of the outside container', 403, a.out_refused,
    () => docker.getContainer(a.out_ctr_name).kill());

  const nets = await docker.listNetworks();
  check(!nets.some((n) => n.Id === a.b_net_id), "listNetworks() shows the other session's network");
  check(nets.some((n) => n.Name === 'bridge'), 'listNetworks() lacks the bridge network');
  await expectError("remove of the other session's network", 404, 'not found',
    () => docker.getNetwork(a.b_net_id).remove());
  const vols = (await docker.listVolumes()).Volumes || [];
  check(!vols.some((v) => v.Name === a.b_vol), "listVolumes() shows the other session's volume");
  await expectError("remove of the other session's volume", 404, 'no such volume',
    () => docker.getVolume(a.b_vol).remove());
  const imgs = await docker.listImages({ all: true });
  check(!imgs.some((i) => i.Id === a.b_img_id), "listImages({all}) shows the other session's image");
  await expectError("remove of the other session's image", 404, 'No such image',
    () => docker.getImage(a.b_img_id).remove({ force: true }));

  if (failures.length) {
    for (const f of failures) process.stderr.write(`ownership-dockerode.js: ${f}\n`);
    process.exit(1);
  }
  process.stdout.write('ok\n');
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`ownership-dockerode.js: ${e.statusCode || ''} ${e.message}\n`);
  process.exit(1);
});
