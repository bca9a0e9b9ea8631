/*
 * The sandbox ("pause") container of the tests' real node: containerd keeps a
 * pod's namespaces alive with one process that does nothing. No registry can
 * be reached here, so the image is built from this file (gcc -static, FROM
 * scratch) instead of pulling registry.k8s.io/pause.
 *
 * As PID 1 of the pod it must exit on SIGINT/SIGTERM (the kernel ignores
 * signals PID 1 has no handler for) and reap any zombie re-parented to it.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) { _exit(128 + sig); }

static void on_child(int sig) {
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0) {
	}
}

int main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		static const char v[] = "rqlite-krm pause\n";
		return write(1, v, sizeof v - 1) == sizeof v - 1 ? 0 : 1;
	}
	struct sigaction stop = {.sa_handler = on_stop};
	struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP};
	if (sigaction(SIGINT, &stop, NULL) < 0 || sigaction(SIGTERM, &stop, NULL) < 0 ||
	    sigaction(SIGCHLD, &child, NULL) < 0) {
		return 1;
	}
	for (;;) {
		pause();
	}
}
