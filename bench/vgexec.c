/* vgexec.c - LD_PRELOAD shim so valgrind can follow ci-wrap into its session
 * process. ci-wrap starts that process with execve("/proc/self/exe"); under
 * valgrind that path names valgrind's own tool binary, which valgrind then
 * fails to load as a client ("mmap(0x58000000) failed in UME"). The shim
 * turns the path into the real executable first: valgrind answers readlink
 * of /proc/self/exe with the client's path. Used by bench/run.sh only.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

int execve(const char *path, char *const argv[], char *const envp[])
{
	static int (*real)(const char *, char *const[], char *const[]);
	char exe[PATH_MAX];

	if (real == NULL)
		real = (int (*)(const char *, char *const[], char *const[]))dlsym(RTLD_NEXT, "execve");
	if (strcmp(path, "/proc/self/exe") == 0) {
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		if (n > 0) {
			exe[n] = '\0';
			path = exe;
		}
	}
	return real(path, argv, envp);
}
