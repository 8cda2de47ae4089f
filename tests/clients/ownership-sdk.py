#!/usr/bin/env python3
"""Ownership through the Python Docker SDK (Debian's python3-docker), in a
session whose $DOCKER_HOST is ci-wrap's proxy.

    ownership-sdk.py JSON

JSON names the objects: own (a container of this session), b_ctr_name,
b_ctr_id, b_net_id, b_vol, b_img_id (another session's), out_ctr_name,
out_ctr_id (a container made outside ci-wrap), label (K=V, carried by the
outside container, the own one and the other session's), out_refused (the
message a removal of the outside container must get). Checks that lists leave
out the other session's objects and keep the others, that the other session's
objects are not found (404), and that removing the outside container raises
with 403 and the message. Prints every failed check on stderr and exits 1 if
there was one. Used by tests/integration/26-ownership.sh.
"""
import json
import sys

import docker

failures = []


def check(ok, msg):
    if not ok:
        failures.append(msg)


def expect_error(what, status, text, fn):
    """fn() must raise an APIError with HTTP status and a message holding text."""
    try:
        fn()
    except docker.errors.APIError as e:
        code = e.response.status_code if e.response is not None else None
        expl = e.explanation or ""
        check(code == status and text in expl,
              f"{what}: expected {status} with {text!r}, got {code} {expl!r}")
        return
    failures.append(f"{what}: succeeded, expected {status} with {text!r}")


def main():
    a = json.loads(sys.argv[1])
    client = docker.from_env(timeout=30)

    # The low-level list: containers.list() inspects each container listed,
    # and other jobs' containers come and go on a shared daemon.
    ids = {c["Id"] for c in client.api.containers(all=True)}
    check(a["own"] in ids, "containers(all=True) does not show the session's own container")
    check(a["out_ctr_id"] in ids, "containers(all=True) does not show the container made outside ci-wrap")
    check(a["b_ctr_id"] not in ids, "containers(all=True) shows the other session's container")
    # docker-py sends filters as arrays: {"label": ["K=V"]}. Running ones:
    ids = {c["Id"] for c in client.api.containers(filters={"label": [a["label"]]})}
    check(ids == {a["own"], a["out_ctr_id"]},
          f"containers(filters={{'label': [{a['label']!r}]}}): {sorted(i[:12] for i in ids)}, "
          f"expected the own and the outside running container")
    mine = client.containers.list(filters={"id": [a["own"]]})
    check([c.id for c in mine] == [a["own"]], "containers.list(filters={'id': [own]}) does not find the own container")

    def get_b():
        client.containers.get(a["b_ctr_name"])
    expect_error("containers.get(<other session's container>)", 404,
                 f"No such container: {a['b_ctr_name']}", get_b)
    expect_error("api.remove_container(<other session's container>, force=True)", 404,
                 f"No such container: {a['b_ctr_id']}",
                 lambda: client.api.remove_container(a["b_ctr_id"], force=True))
    expect_error("api.kill(<other session's container>)", 404,
                 f"No such container: {a['b_ctr_name']}", lambda: client.api.kill(a["b_ctr_name"]))

    out = client.containers.get(a["out_ctr_name"])
    check(out.id == a["out_ctr_id"], "containers.get(<outside container>) returned another container")
    check(b"out-log-line" in out.logs(), "logs of the outside container lack its output")
    res = out.exec_run(["echo", "sdk-exec-ok"])
    check(res.exit_code == 0 and res.output == b"sdk-exec-ok\n",
          f"exec_run in the outside container: {res.exit_code} {res.output!r}")
    expect_error("api.remove_container(<outside container>, force=True)", 403, a["out_refused"],
                 lambda: client.api.remove_container(a["out_ctr_name"], force=True))
    expect_error("api.stop(<outside container>)", 403, a["out_refused"],
                 lambda: client.api.stop(a["out_ctr_name"], timeout=1))

    nets = {n.id for n in client.networks.list()}
    check(a["b_net_id"] not in nets, "networks.list() shows the other session's network")
    check(any(n.name == "bridge" for n in client.networks.list()), "networks.list() lacks the bridge network")
    expect_error("networks.get(<other session's network>)", 404, "not found",
                 lambda: client.networks.get(a["b_net_id"]))
    vols = {v.name for v in client.volumes.list()}
    check(a["b_vol"] not in vols, "volumes.list() shows the other session's volume")
    expect_error("volumes.get(<other session's volume>)", 404, "no such volume",
                 lambda: client.volumes.get(a["b_vol"]))
    imgs = {i["Id"] for i in client.api.images(all=True)}
    check(a["b_img_id"] not in imgs, "images(all=True) shows the other session's image")
    expect_error("images.remove(<other session's image>)", 404, "No such image",
                 lambda: client.images.remove(a["b_img_id"], force=True))

    if failures:
        for f in failures:
            print("ownership-sdk.py: " + f, file=sys.stderr)
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    try:
        main()
    except docker.errors.DockerException as e:
        print(f"ownership-sdk.py: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
