/* test_policy.c - --deny and --allow-bind on container and volume creates,
 * through rewrite_body() as the proxy calls it: every spelling Go's decoder
 * reads (folded keys, duplicates, the promoted top-level fields, Mounts
 * decoded element into element) is held to the rules. Host paths live in a
 * temporary tree with symlinks out of the allowed directory.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../proxy/policy.h"
#include "../../proxy/rewrite.h"
#include "../../proxy/sockmount.h"

static json_t *labels;
static struct rewrite_spec spec;
static char tree[64];		    /* the temporary tree, as made */
static char real[PATH_MAX];	    /* its path, resolved */
static char allowed[PATH_MAX + 16]; /* real/allowed: the one --allow-bind DIR */
static char *dirs[1] = { allowed };
static struct sockmount sm;

static void path_in(char *buf, size_t size, const char *rel)
{
	snprintf(buf, size, "%s/%s", real, rel);
}

static int make_tree(void)
{
	char p[PATH_MAX + 32], q[PATH_MAX + 32];
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd;

	snprintf(tree, sizeof(tree), "/tmp/test-policy.XXXXXX");
	if (mkdtemp(tree) == NULL || realpath(tree, real) == NULL)
		return -1;
	for (const char *d = "allowed\0allowed/sub\0allowedx\0outside\0sockdir\0"; *d;
	     d += strlen(d) + 1) {
		path_in(p, sizeof(p), d);
		if (mkdir(p, 0700) < 0)
			return -1;
	}
	path_in(p, sizeof(p), "allowed/link");
	if (symlink("/etc", p) < 0)
		return -1;
	path_in(p, sizeof(p), "allowed/dangling");
	path_in(q, sizeof(q), "nothing/here");
	if (symlink(q, p) < 0)
		return -1;
	path_in(p, sizeof(p), "allowed/inside");
	if (symlink("sub", p) < 0)
		return -1;
	path_in(p, sizeof(p), "sockdir/docker.sock");
	if (strlen(p) >= sizeof(a.sun_path))
		return -1;
	memcpy(a.sun_path, p, strlen(p) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	close(fd);
	return 0;
}

static int setup(void **state)
{
	struct cw_error err = { 0 };
	char sock[PATH_MAX + 32];

	(void)state;
	labels = json_pack("{s:s}", "ci-wrap.session", "sess-1");
	if (labels == NULL || make_tree() < 0)
		return -1;
	path_in(allowed, sizeof(allowed), "allowed");
	path_in(sock, sizeof(sock), "sockdir/docker.sock");
	if (sockmount_init(&sm, sock, "/stand/in.sock", &err) < 0)
		return -1;
	spec.labels = labels;
	spec.cgroup_parent = "/ci-wrap/sess-1";
	spec.max_body = 1 << 20;
	spec.sockets = &sm;
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	json_decref(labels);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tree);
	return system(cmd) == 0 ? 0 : -1;
}

/* Each test sets the rules it needs. */
static int reset(void **state)
{
	(void)state;
	spec.deny = 0;
	spec.allow_binds = NULL;
	spec.nallow_binds = 0;
	return 0;
}

static void allow_binds(void)
{
	spec.allow_binds = dirs;
	spec.nallow_binds = 1;
}

/* rewrite_body() of kind on body: its status, and its message in msg. */
static int run(enum rewrite_kind kind, const char *body, char *msg, size_t size)
{
	struct cw_error err = { 0 };
	json_t *volumes = NULL;
	char *out = NULL;
	size_t outlen = 0;
	int rc = rewrite_body(kind, &spec, body, strlen(body), &out, &outlen, &volumes, &err);

	snprintf(msg, size, "%s", rc < 0 ? err.msg : "");
	if (rc < 0)
		assert_null(out);
	free(out);
	json_decref(volumes);
	return rc;
}

static void assert_passes(enum rewrite_kind kind, const char *body)
{
	char msg[1024];
	int rc = run(kind, body, msg, sizeof(msg));

	if (rc != 0)
		fail_msg("refused with %d (%s): %s", rc, msg, body);
}

/* Refused with 403 and a message holding want. */
static void assert_refused(enum rewrite_kind kind, const char *body, const char *want)
{
	char msg[1024];
	int rc = run(kind, body, msg, sizeof(msg));

	if (rc != -403)
		fail_msg("got %d (%s), want 403: %s", rc, msg, body);
	if (strstr(msg, want) == NULL)
		fail_msg("message '%s' lacks '%s': %s", msg, want, body);
}

#define PASSES(body) assert_passes(REWRITE_CONTAINER_CREATE, body)
#define REFUSED(body, want) assert_refused(REWRITE_CONTAINER_CREATE, body, want)

/* tmpl with every "%s" replaced by the tree's resolved path (by hand:
 * a format string that is not a literal would defeat -Wformat=2). */
static char *expand(const char *tmpl)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	for (const char *p = tmpl; *p != '\0'; p++) {
		if (p[0] == '%' && p[1] == 's') {
			fputs(real, f);
			p++;
		} else {
			fputc(*p, f);
		}
	}
	fclose(f);
	return buf;
}

/* A create body with HostConfig {hc}; %s in hc stands for the tree. */
static char *hc_body(const char *hc)
{
	char *inner = expand(hc), *body = NULL;

	if (asprintf(&body, "{\"Image\":\"x\",\"HostConfig\":{%s}}", inner) < 0)
		fail();
	free(inner);
	return body;
}

static void hc_passes(const char *hc)
{
	char *body = hc_body(hc);

	PASSES(body);
	free(body);
}

static void hc_refused(const char *hc, const char *want)
{
	char *body = hc_body(hc);

	REFUSED(body, want);
	free(body);
}

/* ---- --deny ------------------------------------------------------------------ */

static void deny_parse(void **state)
{
	unsigned rules = 0;
	char bad[32] = "";

	(void)state;
	assert_int_equal(policy_deny_parse("privileged,host-network", &rules, bad, sizeof(bad)), 0);
	assert_int_equal(rules, POLICY_PRIVILEGED | POLICY_HOST_NETWORK);
	assert_int_equal(policy_deny_parse(" host-pid, host-ipc ,,devices", &rules, bad, sizeof(bad)),
			 0);
	assert_int_equal(policy_deny_parse("cap-add,host-userns", &rules, bad, sizeof(bad)), 0);
	assert_int_equal(rules, 0x7f);
	rules = 0;
	assert_int_equal(policy_deny_parse("privileged,Privileged", &rules, bad, sizeof(bad)), -1);
	assert_string_equal(bad, "Privileged");
	assert_int_equal(policy_deny_parse("cap-add,host", &rules, bad, sizeof(bad)), -1);
	assert_string_equal(bad, "host");
	assert_int_equal(policy_deny_parse("", &rules, bad, sizeof(bad)), 0);
	assert_non_null(strstr(policy_deny_names(), "host-userns"));
}

/* Each rule: its field refused with the rule's message, harmless values and
 * other rules' fields let through. */
static void deny_each_rule(void **state)
{
	static const struct {
		unsigned rule;	     /* the rule set */
		const char *bad;     /* a HostConfig that breaks it */
		const char *good;    /* one that does not */
		const char *message; /* the refusal */
	} cases[] = {
		{ POLICY_PRIVILEGED, "\"Privileged\":true", "\"Privileged\":false",
		  "ci-wrap: refused: HostConfig.Privileged (--deny privileged)" },
		{ POLICY_HOST_NETWORK, "\"NetworkMode\":\"host\"", "\"NetworkMode\":\"bridge\"",
		  "ci-wrap: refused: HostConfig.NetworkMode host (--deny host-network)" },
		{ POLICY_HOST_PID, "\"PidMode\":\"host\"", "\"PidMode\":\"container:x\"",
		  "ci-wrap: refused: HostConfig.PidMode host (--deny host-pid)" },
		{ POLICY_HOST_IPC, "\"IpcMode\":\"host\"", "\"IpcMode\":\"shareable\"",
		  "ci-wrap: refused: HostConfig.IpcMode host (--deny host-ipc)" },
		{ POLICY_DEVICES, "\"Devices\":[{\"PathOnHost\":\"/dev/null\"}]", "\"Devices\":[]",
		  "ci-wrap: refused: HostConfig.Devices (--deny devices)" },
		{ POLICY_DEVICES, "\"DeviceRequests\":[{\"Count\":-1}]", "\"DeviceRequests\":null",
		  "ci-wrap: refused: HostConfig.DeviceRequests (--deny devices)" },
		{ POLICY_DEVICES, "\"DeviceCgroupRules\":[\"c 1:3 mr\"]", "\"DeviceCgroupRules\":[]",
		  "ci-wrap: refused: HostConfig.DeviceCgroupRules (--deny devices)" },
		{ POLICY_CAP_ADD, "\"CapAdd\":[\"NET_ADMIN\"]", "\"CapAdd\":[],\"CapDrop\":[\"ALL\"]",
		  "ci-wrap: refused: HostConfig.CapAdd (--deny cap-add)" },
		{ POLICY_CAP_ADD, "\"Capabilities\":[\"CAP_SYS_ADMIN\"]", "\"Capabilities\":null",
		  "ci-wrap: refused: HostConfig.Capabilities (--deny cap-add)" },
		{ POLICY_HOST_USERNS, "\"UsernsMode\":\"host\"", "\"UsernsMode\":\"\"",
		  "ci-wrap: refused: HostConfig.UsernsMode host (--deny host-userns)" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		spec.deny = 0;
		hc_passes(cases[i].bad);
		spec.deny = cases[i].rule;
		hc_refused(cases[i].bad, cases[i].message);
		hc_passes(cases[i].good);
		spec.deny = 0x7f & ~cases[i].rule;
		hc_passes(cases[i].bad);
		spec.deny = 0x7f;
		hc_refused(cases[i].bad, cases[i].message);
	}
}

/* Keys as Go matches them: any case, U+017F for s, U+212A for k; every
 * HostConfig spelling and the promoted top-level fields. */
static void deny_spellings(void **state)
{
	(void)state;
	spec.deny = 0x7f;
	hc_refused("\"privileged\":true", "--deny privileged");
	hc_refused("\"PRIVILEGED\":true", "--deny privileged");
	hc_refused("\"Networ\xe2\x84\xaaMode\":\"host\"", "--deny host-network");
	hc_refused("\"networkmode\":\"HOST\"", "--deny host-network");
	hc_refused("\"Usern\xc5\xbfMode\":\"host\"", "--deny host-userns");
	hc_refused("\"DeviceRequest\xc5\xbf\":[{}]", "--deny devices");
	hc_refused("\"capadd\":\"NET_ADMIN\"", "--deny cap-add"); /* a StrSlice takes a string */
	REFUSED("{\"Image\":\"x\",\"hostconfig\":{\"IpcMode\":\"host\"}}", "--deny host-ipc");
	REFUSED("{\"Image\":\"x\",\"HOSTCONFIG\":{\"pidmode\":\"host\"}}", "--deny host-pid");
	/* Before API 1.2x clients put HostConfig fields at the top: the daemon
	 * still reads them when there is no HostConfig. */
	REFUSED("{\"Image\":\"x\",\"Privileged\":true}", "--deny privileged");
	REFUSED("{\"Image\":\"x\",\"CapAdd\":[\"SYS_ADMIN\"],\"HostConfig\":null}", "--deny cap-add");
	hc_passes("\"Privileged\":false,\"NetworkMode\":\"default\",\"CapAdd\":null,"
		  "\"Devices\":null,\"UsernsMode\":\"private\"");
}

/* Duplicates: the last of one key wins (as in Go); spellings of HostConfig
 * decode into one struct, so a later one does not undo an earlier field. */
static void deny_duplicates(void **state)
{
	(void)state;
	spec.deny = POLICY_PRIVILEGED | POLICY_HOST_NETWORK;
	hc_refused("\"Privileged\":false,\"privileged\":true", "--deny privileged");
	hc_refused("\"privileged\":true,\"Privileged\":false", "--deny privileged");
	hc_passes("\"Privileged\":true,\"Privileged\":false");
	hc_refused("\"Privileged\":false,\"Privileged\":true", "--deny privileged");
	REFUSED("{\"Image\":\"x\",\"HostConfig\":{\"Privileged\":true},\"hostconfig\":{}}",
		"--deny privileged");
	REFUSED("{\"Image\":\"x\",\"HostConfig\":{},\"HostConfig\":{\"NetworkMode\":\"host\"}}",
		"--deny host-network");
	REFUSED("{\"Image\":\"x\",\"HostConfig\":{\"NetworkMode\":\"bridge\"},"
		"\"hostConfig\":{\"NetworkMode\":\"host\"}}",
		"--deny host-network");
}

/* ---- --allow-bind -------------------------------------------------------------- */

static void bind_dir(void **state)
{
	struct cw_error err = { 0 };
	char out[PATH_MAX], want[PATH_MAX + 32];

	(void)state;
	assert_int_equal(policy_bind_dir("srv/ci", out, sizeof(out), &err), -1);
	assert_non_null(strstr(err.msg, "absolute"));
	assert_int_equal(policy_bind_dir("/no//such/./dir/../ci/", out, sizeof(out), &err), 0);
	assert_string_equal(out, "/no/such/ci");
	assert_int_equal(policy_bind_dir("/..", out, sizeof(out), &err), 0);
	assert_string_equal(out, "/");
	/* A symlink to a directory is compared as the directory. */
	snprintf(want, sizeof(want), "%s/allowed/inside/x", tree);
	assert_int_equal(policy_bind_dir(want, out, sizeof(out), &err), 0);
	snprintf(want, sizeof(want), "%s/allowed/sub/x", real);
	assert_string_equal(out, want);
	assert_int_equal(policy_bind_dir("/tmp", out, 3, &err), -1);
}

/* By components: DIR holds DIR and DIR/x, not DIRx; cleaned as the daemon
 * cleans, resolved as the kernel resolves. */
static void binds_by_component(void **state)
{
	(void)state;
	hc_passes("\"Binds\":[\"/etc:/x\"]"); /* no --allow-bind: anything goes */
	allow_binds();
	hc_passes("\"Binds\":[\"%s/allowed:/x\",\"%s/allowed/sub:/y:ro\"]");
	hc_passes("\"Binds\":[\"%s/allowed/new/deeper:/x\"]"); /* the daemon creates it */
	hc_passes("\"Binds\":[\"%s/allowed/inside:/x\",\"%s//allowed/./sub/:/y\"]");
	hc_passes("\"Binds\":[\"%s/allowed/link/..:/x\"]"); /* cleaned first, as moby does */
	hc_passes("\"Binds\":[\"name:/x\",\"/anonymous\",null]");
	hc_refused("\"Binds\":[\"%s/allowedx:/x\"]", "is outside every --allow-bind directory");
	hc_refused("\"Binds\":[\"%s/allowed/../outside:/x\"]", "outside) is outside every");
	hc_refused("\"Binds\":[\"/etc:/x:ro\"]",
		   "ci-wrap: refused: HostConfig.Binds source /etc is outside every --allow-bind "
		   "directory");
	hc_refused("\"Binds\":[\"/:/x\"]", "HostConfig.Binds source / is outside");
	hc_refused("\"Binds\":[\"%s/allowed/link:/x\"]", "link (resolves to /etc) is outside");
	hc_refused("\"Binds\":[\"%s/allowed/link/passwd:/x\"]", "(resolves to /etc/passwd)");
	hc_refused("\"Binds\":[\"%s/allowed/dangling:/x\"]", "cannot be resolved");
	hc_refused("\"Binds\":[\"%s/allowed/dangling/x:/x\"]", "cannot be resolved");
	hc_refused("\"Binds\":[\"%s/allowed\\u0000/../../outside:/x\"]", "NUL");
}

static void binds_spellings(void **state)
{
	(void)state;
	allow_binds();
	hc_refused("\"binds\":[\"/etc:/x\"]", "/etc is outside");
	hc_refused("\"Bind\xc5\xbf\":[\"/etc:/x\"]", "/etc is outside");
	hc_refused("\"Binds\":[\"%s/allowed:/x\"],\"BINDS\":[\"/etc:/y\"]", "/etc is outside");
	/* The same key twice: only the last is forwarded, and it is what the
	 * daemon reads. */
	hc_passes("\"Binds\":[\"/etc:/y\"],\"Binds\":[\"%s/allowed:/x\"]");
	/* Two spellings: Go keeps the last, every one is checked (a superset). */
	hc_refused("\"Binds\":[\"%s/allowed:/x\"],\"Binds\":[\"/etc:/y\"],\"binds\":[]",
		   "/etc is outside");
	REFUSED("{\"Image\":\"x\",\"Binds\":[\"/etc:/x\"]}", "/etc is outside");
	REFUSED("{\"Image\":\"x\",\"HostConfig\":{},\"hostconfig\":{\"binds\":[\"/root:/x\"]}}",
		"/root is outside");
}

static void mounts_bind(void **state)
{
	(void)state;
	allow_binds();
	hc_passes("\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"%s/allowed\",\"Target\":\"/x\"},"
		  "{\"Type\":\"tmpfs\",\"Target\":\"/t\"},{\"Type\":\"volume\",\"Source\":\"v\","
		  "\"Target\":\"/v\"}]");
	hc_refused("\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/etc\",\"Target\":\"/x\"}]",
		   "ci-wrap: refused: HostConfig.Mounts source /etc is outside every "
		   "--allow-bind directory");
	hc_refused("\"Mounts\":[{\"type\":\"bind\",\"SOURCE\":\"%s/allowed/link\","
		   "\"Target\":\"/x\"}]",
		   "(resolves to /etc)");
	hc_refused("\"Mounts\":[{\"Type\":\"bind\",\"\xc5\xbfource\":\"/var\",\"Target\":\"/x\"}]",
		   "/var is outside");
	/* A later array decodes into the earlier one's element: its type, the
	 * later one's source. */
	hc_refused("\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"%s/allowed\",\"Target\":\"/x\"}],"
		   "\"mounts\":[{\"Source\":\"/etc\"}]",
		   "/etc is outside");
	REFUSED("{\"Image\":\"x\",\"HostConfig\":{\"Mounts\":[{\"Type\":\"bind\"}]},"
		"\"hostconfig\":{\"Mounts\":[{\"Source\":\"/etc\",\"Target\":\"/x\"}]}}",
		"/etc is outside");
	REFUSED("{\"Image\":\"x\",\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/etc\"}]}",
		"/etc is outside");
	REFUSED("{\"Image\":\"x\",\"Mounts\":[{\"Type\":\"bind\"}],\"mounts\":[{\"Source\":\"/etc\"}]}",
		"/etc is outside");
}

/* The local driver's o=bind is a bind by another name; other mounts of
 * host devices or paths are refused, network filesystems and tmpfs pass. */
static void volume_options(void **state)
{
	(void)state;
	hc_passes("\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"v\",\"Target\":\"/x\","
		  "\"VolumeOptions\":{\"DriverConfig\":{\"Options\":{\"type\":\"none\",\"o\":\"bind\","
		  "\"device\":\"/etc\"}}}}]");
	allow_binds();
	hc_refused("\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"v\",\"Target\":\"/x\","
		   "\"VolumeOptions\":{\"DriverConfig\":{\"Options\":{\"type\":\"none\",\"o\":\"bind\","
		   "\"device\":\"/etc\"}}}}]",
		   "HostConfig.Mounts volume device /etc is outside every --allow-bind directory");
	hc_passes("\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"v\",\"Target\":\"/x\","
		  "\"VolumeOptions\":{\"DriverConfig\":{\"Name\":\"local\",\"Options\":{\"type\":"
		  "\"none\",\"o\":\"rw,rbind\",\"device\":\"%s/allowed/sub\"}}}}]");
	hc_refused("\"Mounts\":[{\"Type\":\"volume\",\"volumeoptions\":{\"driverconfig\":{"
		   "\"options\":{\"o\":\"bind\",\"device\":\"etc\"}}}}]",
		   "device etc (resolves to /etc)"); /* mount(2) starts from the daemon's / */
	hc_refused("\"Mounts\":[{\"Type\":\"volume\",\"VolumeOptions\":{\"DriverConfig\":{"
		   "\"Options\":{\"type\":\"ext4\",\"device\":\"/dev/sda1\"}}}}]",
		   "type=ext4 mounts a host device or host paths");
	hc_refused("\"Mounts\":[{\"Type\":\"volume\",\"VolumeOptions\":{\"DriverConfig\":{"
		   "\"Options\":{\"type\":\"overlay\",\"o\":\"lowerdir=/etc\"}}}}]",
		   "type=overlay");
	hc_passes("\"Mounts\":[{\"Type\":\"volume\",\"VolumeOptions\":{\"DriverConfig\":{"
		  "\"Options\":{\"type\":\"tmpfs\",\"device\":\"tmpfs\",\"o\":\"size=1m\"}}}},"
		  "{\"Type\":\"volume\",\"VolumeOptions\":{\"DriverConfig\":{"
		  "\"Options\":{\"type\":\"nfs\",\"device\":\":/export\",\"o\":\"addr=10.0.0.1\"}}}}]");
	/* A plugin's options are the plugin's (plugins need --allow plugins). */
	hc_passes("\"Mounts\":[{\"Type\":\"volume\",\"VolumeOptions\":{\"DriverConfig\":{"
		  "\"Name\":\"some-plugin\",\"Options\":{\"o\":\"bind\",\"device\":\"/etc\"}}}}]");
	/* ...unless a spelling the daemon may keep names the local driver. */
	hc_refused("\"Mounts\":[{\"Type\":\"volume\",\"VolumeOptions\":{\"DriverConfig\":{"
		   "\"Name\":\"some-plugin\",\"name\":\"\",\"Options\":{\"o\":\"bind\","
		   "\"device\":\"/etc\"}}}}]",
		   "/etc is outside");
}

static void volume_create(void **state)
{
	char *body;

	(void)state;
	assert_passes(REWRITE_LABELS, "{\"Name\":\"v\",\"DriverOpts\":{\"o\":\"bind\","
				      "\"device\":\"/etc\"}}");
	allow_binds();
	assert_refused(REWRITE_LABELS,
		       "{\"Name\":\"v\",\"DriverOpts\":{\"type\":\"none\",\"o\":\"bind\","
		       "\"device\":\"/etc\"}}",
		       "ci-wrap: refused: volume DriverOpts device /etc is outside every "
		       "--allow-bind directory");
	assert_refused(REWRITE_LABELS,
		       "{\"Name\":\"v\",\"driveropts\":{\"o\":\"bind\"},\"DRIVEROPTS\":{"
		       "\"device\":\"/root\"}}",
		       "device /root is outside");
	assert_refused(REWRITE_LABELS,
		       "{\"Driver\":\"local\",\"DriverOpts\":{\"type\":\"btrfs\",\"device\":\"/dev/sdb\"}}",
		       "type=btrfs");
	assert_passes(REWRITE_LABELS, "{\"Name\":\"v\"}");
	assert_passes(REWRITE_LABELS, "{\"Name\":\"v\",\"DriverOpts\":{}}");
	assert_passes(REWRITE_LABELS, "{\"Name\":\"v\",\"DriverOpts\":{\"type\":\"tmpfs\","
				      "\"device\":\"tmpfs\",\"o\":\"size=10m\"}}");
	body = expand("{\"DriverOpts\":{\"type\":\"none\",\"o\":\"bind\",\"device\":"
		      "\"%s/allowed/sub\"}}");
	assert_passes(REWRITE_LABELS, body);
	free(body);
	/* Networks have no DriverOpts: their Options are not looked at. */
	assert_passes(REWRITE_LABELS, "{\"Name\":\"n\",\"Options\":{\"device\":\"/etc\"}}");
}

/* The daemon's socket is swapped for the session's first; that one passes,
 * the directory that held the daemon's does not. */
static void socket_swap_first(void **state)
{
	(void)state;
	allow_binds();
	hc_passes("\"Binds\":[\"%s/sockdir/docker.sock:/var/run/docker.sock\"]");
	hc_passes("\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"%s/sockdir/docker.sock\","
		  "\"Target\":\"/var/run/docker.sock\"}]");
	hc_passes("\"Binds\":[\"/stand/in.sock:/s.sock\"]");
	hc_refused("\"Binds\":[\"%s/sockdir:/h\"]", "sockdir is outside");
}

/* Neither option: nothing is looked at, whatever the body. */
static void off_by_default(void **state)
{
	(void)state;
	hc_passes("\"Privileged\":true,\"NetworkMode\":\"host\",\"PidMode\":\"host\","
		  "\"IpcMode\":\"host\",\"Devices\":[{}],\"CapAdd\":[\"ALL\"],\"UsernsMode\":\"host\","
		  "\"Binds\":[\"/:/host\"],\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/etc\"}]");
}

/* ---- builds --------------------------------------------------------------------- */

static int build_query(const char *q, char *msg, size_t size)
{
	struct cw_error err = { 0 };
	char *out = NULL;
	size_t outlen = 0;
	int rc = rewrite_query(REWRITE_BUILD_QUERY, &spec, q, strlen(q), &out, &outlen, &err);

	snprintf(msg, size, "%s", rc < 0 ? err.msg : "");
	free(out);
	return rc;
}

static void build_network(void **state)
{
	char msg[1024];

	(void)state;
	assert_int_equal(build_query("t=x&networkmode=host", msg, sizeof(msg)), 1);
	spec.deny = POLICY_HOST_NETWORK;
	assert_int_equal(build_query("t=x&networkmode=host", msg, sizeof(msg)), -403);
	assert_string_equal(msg, "ci-wrap: refused: a build's networkmode=host "
				 "(--deny host-network)");
	assert_int_equal(build_query("networkmode=bridge&networkmode=%68OST", msg, sizeof(msg)),
			 -403);
	assert_int_equal(build_query("networkmode=bridge&t=x", msg, sizeof(msg)), 1);
	assert_int_equal(build_query("networkmode=default", msg, sizeof(msg)), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(deny_parse, reset),
		cmocka_unit_test_setup(deny_each_rule, reset),
		cmocka_unit_test_setup(deny_spellings, reset),
		cmocka_unit_test_setup(deny_duplicates, reset),
		cmocka_unit_test_setup(bind_dir, reset),
		cmocka_unit_test_setup(binds_by_component, reset),
		cmocka_unit_test_setup(binds_spellings, reset),
		cmocka_unit_test_setup(mounts_bind, reset),
		cmocka_unit_test_setup(volume_options, reset),
		cmocka_unit_test_setup(volume_create, reset),
		cmocka_unit_test_setup(socket_swap_first, reset),
		cmocka_unit_test_setup(off_by_default, reset),
		cmocka_unit_test_setup(build_network, reset),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
