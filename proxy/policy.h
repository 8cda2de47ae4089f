/* policy.h - the operator's opt-in limits on what a job's containers may be
 * given: host namespaces, privileges, devices (--deny RULES) and host paths
 * (--allow-bind DIR). Off by default; sockguard's and wollomatic's rules.
 *
 * 1. The launcher turns --deny into rule bits (policy_deny_parse()) and each
 *    --allow-bind into a resolved directory (policy_bind_dir()); both go
 *    into struct rewrite_spec.
 * 2. rewrite_body() runs policy_check_create() on a container create's body
 *    as it will be forwarded (labelled, socket mounts swapped, Mounts as Go
 *    decodes them), and policy_check_volume() on a volume create's. Every
 *    spelling the daemon's decoder could read is checked: a field refused in
 *    any of them refuses the create (a superset of what Go keeps).
 */
#ifndef CI_WRAP_POLICY_H
#define CI_WRAP_POLICY_H

#include <jansson.h>
#include <stddef.h>

#include "../common/error.h"

struct rewrite_spec;

/* The rules of --deny, one bit each; the names are what --deny takes. */
enum policy_rule {
	POLICY_PRIVILEGED = 1u << 0,   /* "privileged": HostConfig.Privileged */
	POLICY_HOST_NETWORK = 1u << 1, /* "host-network": NetworkMode host, a build's too */
	POLICY_HOST_PID = 1u << 2,     /* "host-pid": PidMode host */
	POLICY_HOST_IPC = 1u << 3,     /* "host-ipc": IpcMode host */
	POLICY_DEVICES = 1u << 4,      /* "devices": Devices, DeviceRequests, DeviceCgroupRules */
	POLICY_CAP_ADD = 1u << 5,      /* "cap-add": a non-empty CapAdd */
	POLICY_HOST_USERNS = 1u << 6,  /* "host-userns": UsernsMode host */
};

/* Add the rules of a comma-separated list to *rules. -1 with the first
 * unknown name in bad. */
int policy_deny_parse(const char *list, unsigned *rules, char *bad, size_t badsz);

/* "privileged, host-network, ...": for messages and --help. */
const char *policy_deny_names(void);

/* An --allow-bind DIR as bind sources are compared with it: absolute,
 * cleaned as the daemon cleans a bind source (Go's path.Clean), its
 * symlinks resolved as far as it exists. -1 with err if it is not
 * absolute, cannot be resolved or does not fit in size. */
int policy_bind_dir(const char *dir, char *out, size_t size, struct cw_error *err);

/* Refuse a container create (root: the body as it will be forwarded) that
 * breaks a --deny rule or binds a host path outside every --allow-bind
 * directory: -403 (-400 past SOCKMOUNT_MAX_BINDS host paths) with err's
 * message naming the field and the option; 0 when it may go. */
int policy_check_create(json_t *root, const struct rewrite_spec *spec, struct cw_error *err);

/* Likewise for a volume create body (POST /volumes/create): a local volume
 * whose driver options mount a host path or device, under --allow-bind. */
int policy_check_volume(json_t *root, const struct rewrite_spec *spec, struct cw_error *err);

/* A build's networkmode= value: -403 with err when --deny host-network
 * refuses it, else 0. */
int policy_check_build_network(const char *mode, const struct rewrite_spec *spec,
			       struct cw_error *err);

#endif
