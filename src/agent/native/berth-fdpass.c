/*
 * berth-fdpass: the agent's (root's) hands for what Node cannot do itself: open TAP devices
 * (ioctl TUNSETIFF) and hand descriptors to QEMU (SCM_RIGHTS), so that QEMU, once it runs
 * unprivileged, never opens /dev/net/tun or a file by name for them (as libvirt does).
 *
 *   berth-fdpass exec [--tap NAME=FD]... [--private-dev] [--dev PATH]... -- PROGRAM [ARG]...
 *       Opens each persistent TAP NAME onto descriptor FD (inherited by PROGRAM), optionally
 *       enters a new mount namespace with a private /dev holding only null, zero, full, random,
 *       urandom and the --dev nodes (block devices of disks, /dev/kvm), then execs PROGRAM (looked up on PATH)
 *       (QEMU, which drops to its user itself with -runas once it has opened its files).
 *
 *   berth-fdpass devnode PID PATH
 *       Copies the device node PATH (under /dev; type, numbers, owner, mode as on the host now)
 *       into the private /dev of process PID's mount namespace (a disk hot-plugged into a VM
 *       started with --private-dev).
 *
 *   berth-fdpass qmp SOCKET FDNAME COMMAND-JSON [--tap NAME]
 *       Connects to a QEMU QMP monitor socket, negotiates, passes a descriptor with `getfd`
 *       (SCM_RIGHTS) under FDNAME, then sends COMMAND-JSON (which refers to FDNAME, e.g.
 *       netdev_add fd=FDNAME, migrate fd:FDNAME) on the same monitor (QEMU looks the name up in
 *       the monitor it is sent on) and prints QEMU's reply. The descriptor is the TAP NAME
 *       (opened here) or, without --tap, descriptor 3 inherited from the caller.
 *       Exit 0: QEMU answered "return"; 2: QEMU answered "error" (printed); 1: anything else.
 *
 * Argument arrays only (no shell); no allocation beyond the stack; every failure is reported on
 * stderr with its cause and a non-zero exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_DEVS 64

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "berth-fdpass: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
		strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: berth-fdpass exec [--tap NAME=FD]... [--private-dev] [--dev PATH]... -- PROGRAM [ARG]...\n"
			"       berth-fdpass devnode PID PATH\n"
			"       berth-fdpass qmp SOCKET FDNAME COMMAND-JSON [--tap NAME]\n");
	exit(1);
}

/* Opens the TAP `name`, with a virtio-net header when the kernel offers it (QEMU probes the flag
 * on the descriptor: the same as when it opens the TAP itself). Like QEMU's own `ifname=`, a TAP
 * that does not exist yet is created, non-persistent: it lives as long as QEMU holds it (the
 * manager makes VIF TAPs once the VM runs, and adopts such a TAP onto the bridge). While QEMU
 * holds it nobody else can attach (a single-queue TAP takes one file: EBUSY). */
static int open_tap(const char *name)
{
	struct ifreq ifr;
	unsigned int features = 0;
	int fd;

	if (strlen(name) >= IFNAMSIZ) {
		errno = ENAMETOOLONG;
		die("TAP name", name);
	}
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open /dev/net/tun for", name);
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(fd, TUNGETFEATURES, &features) == 0 && (features & IFF_VNET_HDR))
		ifr.ifr_flags |= IFF_VNET_HDR;
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die("TUNSETIFF", name);
	if (strcmp(ifr.ifr_name, name) != 0) {
		errno = EINVAL;
		die("TAP renamed by the kernel", name);
	}
	return fd;
}

static int parse_fd(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 3 || v > 1023) {
		fprintf(stderr, "berth-fdpass: bad descriptor number %s (3..1023)\n", s);
		exit(1);
	}
	return (int)v;
}

static void mkdirs(const char *path)
{
	char buf[PATH_MAX];
	if (strlen(path) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		die("path", path);
	}
	strcpy(buf, path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			die("mkdir", buf);
		*p = '/';
	}
}

struct node {
	const char *path;
	struct stat st;
};

static void make_node(const struct node *nd);

/* A new mount namespace whose /dev is a fresh tmpfs with only `nodes` (copied from the host's
 * /dev: same type, numbers, owner and mode), made read-only. The rest of the tree is the host's,
 * as a slave (host mounts still propagate in, nothing propagates out). */
static void private_dev(struct node *nodes, int n)
{
	if (unshare(CLONE_NEWNS) < 0)
		die("unshare(CLONE_NEWNS)", NULL);
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		die("mount --make-rslave", "/");
	if (mount("berth-dev", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k") < 0)
		die("mount tmpfs on", "/dev");
	if (mount(NULL, "/dev", NULL, MS_PRIVATE, NULL) < 0)
		die("mount --make-private", "/dev");
	for (int i = 0; i < n; i++)
		make_node(&nodes[i]);
	if (mount(NULL, "/dev", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) < 0)
		die("remount read-only", "/dev");
}

static void check_dev_path(const char *p)
{
	if (strncmp(p, "/dev/", 5) != 0 || strstr(p, "/../") || strstr(p, "/./")) {
		fprintf(stderr, "berth-fdpass: %s: not a path under /dev\n", p);
		exit(1);
	}
}

static void stat_node(struct node *nd)
{
	if (stat(nd->path, &nd->st) < 0)
		die("stat", nd->path);
	if (!S_ISCHR(nd->st.st_mode) && !S_ISBLK(nd->st.st_mode)) {
		fprintf(stderr, "berth-fdpass: %s is not a device node\n", nd->path);
		exit(1);
	}
}

static void make_node(const struct node *nd)
{
	const struct stat *st = &nd->st;
	mkdirs(nd->path);
	unlink(nd->path);
	if (mknod(nd->path, (st->st_mode & S_IFMT) | 0600, st->st_rdev) < 0)
		die("mknod", nd->path);
	if (chown(nd->path, st->st_uid, st->st_gid) < 0)
		die("chown", nd->path);
	if (chmod(nd->path, st->st_mode & 07777) < 0)
		die("chmod", nd->path);
}

static int cmd_devnode(int argc, char **argv)
{
	struct node nd;
	char nspath[64];
	char *end;
	long pid;
	int fd;

	if (argc != 4)
		usage();
	pid = strtol(argv[2], &end, 10);
	if (*argv[2] == '\0' || *end != '\0' || pid < 2) {
		fprintf(stderr, "berth-fdpass: bad pid %s\n", argv[2]);
		return 1;
	}
	nd.path = argv[3];
	check_dev_path(nd.path);
	stat_node(&nd); /* on the host's /dev, before entering the namespace */
	snprintf(nspath, sizeof(nspath), "/proc/%ld/ns/mnt", pid);
	fd = open(nspath, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open", nspath);
	if (setns(fd, CLONE_NEWNS) < 0)
		die("setns", nspath);
	if (mount(NULL, "/dev", NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC, NULL) < 0)
		die("remount read-write", "/dev");
	make_node(&nd);
	if (mount(NULL, "/dev", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) < 0)
		die("remount read-only", "/dev");
	return 0;
}

static int cmd_exec(int argc, char **argv)
{
	static const char *base[] = { "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom" };
	struct node nodes[MAX_DEVS];
	int n = 0, private = 0, i;

	for (i = 0; i < (int)(sizeof(base) / sizeof(base[0])); i++)
		nodes[n++].path = base[i];
	for (i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--tap") == 0 && i + 1 < argc) {
			char name[IFNAMSIZ + 8];
			char *eq = strrchr(argv[++i], '=');
			if (!eq || eq == argv[i] || (size_t)(eq - argv[i]) >= sizeof(name))
				usage();
			memcpy(name, argv[i], eq - argv[i]);
			name[eq - argv[i]] = '\0';
			int want = parse_fd(eq + 1);
			int fd = open_tap(name);
			/* dup2 clears close-on-exec: PROGRAM inherits exactly `want`. */
			if (fd != want && dup2(fd, want) < 0)
				die("dup2 for", name);
			if (fd == want && fcntl(fd, F_SETFD, 0) < 0)
				die("fcntl for", name);
			if (fd != want)
				close(fd);
		} else if (strcmp(argv[i], "--private-dev") == 0) {
			private = 1;
		} else if (strcmp(argv[i], "--dev") == 0 && i + 1 < argc) {
			const char *p = argv[++i];
			check_dev_path(p);
			if (n >= MAX_DEVS) {
				fprintf(stderr, "berth-fdpass: too many --dev\n");
				exit(1);
			}
			nodes[n++].path = p;
		} else {
			usage();
		}
	}
	if (i >= argc - 1)
		usage();
	if (private) {
		/* Looked up on the host's /dev, before the private one hides it. */
		for (int k = 0; k < n; k++)
			stat_node(&nodes[k]);
		private_dev(nodes, n);
	}
	execvp(argv[i + 1], &argv[i + 1]);
	die("exec", argv[i + 1]);
	return 1;
}

/* Reads one line (QMP messages are one JSON object per line) into buf; skips events. */
static int read_reply(int sock, char *buf, size_t size)
{
	for (;;) {
		size_t len = 0;
		for (;;) {
			char c;
			ssize_t r = read(sock, &c, 1);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				if (r == 0)
					errno = ECONNRESET;
				return -1;
			}
			if (c == '\n')
				break;
			if (len + 1 < size)
				buf[len++] = c;
		}
		buf[len] = '\0';
		if (strncmp(buf, "{\"return\"", 9) == 0 || strncmp(buf, "{\"error\"", 8) == 0 ||
		    strncmp(buf, "{\"QMP\"", 6) == 0)
			return 0;
		/* an event ({"timestamp": …, "event": …}): not ours */
	}
}

static void send_all(int sock, const char *s)
{
	size_t len = strlen(s);
	while (len) {
		ssize_t w = write(sock, s, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			die("write to QMP", NULL);
		s += w;
		len -= w;
	}
}

static int is_error(const char *reply)
{
	return strncmp(reply, "{\"error\"", 8) == 0;
}

static int cmd_qmp(int argc, char **argv)
{
	const char *path, *fdname, *command, *tap = NULL;
	struct sockaddr_un addr;
	struct timeval tv = { .tv_sec = 30 };
	char reply[65536], msg[512];
	int sock, fd = 3;

	if (argc != 5 && argc != 7)
		usage();
	path = argv[2];
	fdname = argv[3];
	command = argv[4];
	if (argc == 7) {
		if (strcmp(argv[5], "--tap") != 0)
			usage();
		tap = argv[6];
	}
	/* QEMU refuses fd names that start with a digit; only plain names are accepted here. */
	if (!*fdname || strlen(fdname) > 64 || strspn(fdname, "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(fdname) ||
	    (*fdname >= '0' && *fdname <= '9')) {
		fprintf(stderr, "berth-fdpass: bad fd name %s\n", fdname);
		return 1;
	}
	if (strchr(command, '\n')) {
		fprintf(stderr, "berth-fdpass: the command must be one line of JSON\n");
		return 1;
	}
	if (tap)
		fd = open_tap(tap);
	else if (fcntl(fd, F_GETFD) < 0)
		die("inherited descriptor", "3");

	if (strlen(path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		die("socket path", path);
	}
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		die("socket", NULL);
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, path);
	if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("connect", path);
	if (read_reply(sock, reply, sizeof(reply)) < 0)
		die("reading QMP greeting from", path);
	send_all(sock, "{\"execute\":\"qmp_capabilities\"}\n");
	if (read_reply(sock, reply, sizeof(reply)) < 0)
		die("reading qmp_capabilities reply from", path);
	if (is_error(reply)) {
		printf("%s\n", reply);
		return 2;
	}

	/* getfd: the descriptor travels as SCM_RIGHTS ancillary data with the command itself. */
	snprintf(msg, sizeof(msg), "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"%s\"}}\n", fdname);
	{
		struct iovec iov = { .iov_base = msg, .iov_len = strlen(msg) };
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} u;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
				     .msg_controllen = sizeof(u.buf) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		memset(u.buf, 0, sizeof(u.buf));
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
		ssize_t w;
		do
			w = sendmsg(sock, &mh, 0);
		while (w < 0 && errno == EINTR);
		if (w < 0)
			die("sendmsg getfd to", path);
		if ((size_t)w < iov.iov_len) {
			msg[0] = '\0';
			send_all(sock, (char *)iov.iov_base + w);
		}
	}
	if (read_reply(sock, reply, sizeof(reply)) < 0)
		die("reading getfd reply from", path);
	if (is_error(reply)) {
		printf("%s\n", reply);
		return 2;
	}
	close(fd); /* QEMU holds its own copy now */

	send_all(sock, command);
	send_all(sock, "\n");
	if (read_reply(sock, reply, sizeof(reply)) < 0)
		die("reading the command's reply from", path);
	printf("%s\n", reply);
	if (is_error(reply)) {
		/* The descriptor was not taken: do not leave it in QEMU's table. */
		snprintf(msg, sizeof(msg), "{\"execute\":\"closefd\",\"arguments\":{\"fdname\":\"%s\"}}\n", fdname);
		send_all(sock, msg);
		char ignored[4096];
		read_reply(sock, ignored, sizeof(ignored));
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "exec") == 0)
		return cmd_exec(argc, argv);
	if (strcmp(argv[1], "qmp") == 0)
		return cmd_qmp(argc, argv);
	if (strcmp(argv[1], "devnode") == 0)
		return cmd_devnode(argc, argv);
	usage();
	return 1;
}
