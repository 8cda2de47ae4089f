#!/usr/bin/env python3
"""Drive the Python Docker SDK (Debian's python3-docker) through $DOCKER_HOST.

    docker-sdk.py IMAGE PREFIX LABEL=VALUE...

Creates a volume, a network and a started container (mounting the volume,
attached to the network) named PREFIX-{vol,net,ctr}, each with the labels
given; then execs in the container (a hijacked stream), reads its logs (plain
and follow mode) and checks what came back. Prints one "TYPE ID" line per
object created, on stdout, as soon as it exists (so a caller can clean up even
if a later step fails). Exits non-zero with a message on stderr on any error.
Used by tests/integration/80-clients.sh.
"""
import sys

import docker


def die(msg):
    print("docker-sdk.py: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def created(kind, ident):
    print(f"{kind} {ident}", flush=True)


def main():
    if len(sys.argv) < 3:
        die("usage: docker-sdk.py IMAGE PREFIX [LABEL=VALUE...]")
    image, prefix = sys.argv[1], sys.argv[2]
    labels = dict(a.split("=", 1) for a in sys.argv[3:])

    client = docker.from_env(timeout=60)
    if not client.ping():
        die("ping failed")

    vol = client.volumes.create(name=f"{prefix}-vol", labels=labels)
    created("volume", vol.name)
    net = client.networks.create(f"{prefix}-net", driver="bridge", labels=labels)
    created("network", net.id)

    # containers.run(detach=True) is create + start.
    ctr = client.containers.run(
        image,
        ["sh", "-c", "echo sdk-log-line; echo sdk-err-line >&2; exec sleep 600"],
        name=f"{prefix}-ctr",
        labels=labels,
        detach=True,
        network=net.name,
        volumes={vol.name: {"bind": "/data", "mode": "rw"}},
    )
    created("container", ctr.id)
    ctr.reload()
    if ctr.status != "running":
        die(f"container status is {ctr.status}, expected running")
    if net.name not in ctr.attrs["NetworkSettings"]["Networks"]:
        die(f"container is not on network {net.name}")

    # exec: POST /exec/ID/start with Upgrade: tcp, multiplexed output.
    res = client.api.exec_create(ctr.id, ["sh", "-c", "echo sdk-exec > /data/f; cat /data/f; echo sdk-exec-err >&2; exit 3"])
    out = client.api.exec_start(res["Id"], demux=True)
    stdout, stderr = out
    if stdout != b"sdk-exec\n" or stderr != b"sdk-exec-err\n":
        die(f"exec output: stdout={stdout!r} stderr={stderr!r}")
    code = client.api.exec_inspect(res["Id"])["ExitCode"]
    if code != 3:
        die(f"exec exit code {code}, expected 3")
    # The high-level wrapper too (stream=True: a streamed hijacked response).
    r = ctr.exec_run(["sh", "-c", "for i in 1 2 3; do echo n$i; done"], stream=True)
    streamed = b"".join(r.output)
    if streamed != b"n1\nn2\nn3\n":
        die(f"exec_run(stream=True) output: {streamed!r}")

    # Logs, plain, then follow mode (a stream that stays open: read one line).
    logs = ctr.logs(stdout=True, stderr=True)
    if b"sdk-log-line\n" not in logs or b"sdk-err-line\n" not in logs:
        die(f"logs: {logs!r}")
    stream = ctr.logs(stdout=True, stderr=False, stream=True, follow=True)
    first = next(iter(stream))
    if first != b"sdk-log-line\n":
        die(f"first line of followed logs: {first!r}")
    stream.close()

    # A second container through the blocking run path: create, start, wait, logs.
    out = client.containers.run(image, ["echo", "sdk-run-output"], labels=labels, remove=False)
    if out != b"sdk-run-output\n":
        die(f"containers.run output: {out!r}")
    for c in client.containers.list(all=True, filters={"label": [f"{k}={v}" for k, v in labels.items()]}):
        if c.id != ctr.id:
            created("container", c.id)
    print("done", flush=True)


if __name__ == "__main__":
    try:
        main()
    except docker.errors.DockerException as e:
        die(f"{type(e).__name__}: {e}")
