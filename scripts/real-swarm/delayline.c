/*
 * delayline: the hub of a real swarm (scripts/real-swarm/run.sh). A switch in user space that
 * holds every Ethernet frame for a fixed time before it passes it on: the one-way latency
 * between any two peers.
 *
 * Why: this machine's kernel has no netem (CONFIG_NET_SCH_NETEM is not set), so tc cannot add
 * delay; it has htb and tbf, which shape rates but add none. So the hub namespace has no bridge:
 * this program reads each hub-side veth end through a packet socket, stamps each frame with
 * arrival + DELAY, and at that time writes it to the port of its destination MAC. The write goes
 * through that port's qdisc (the receiver's download shaping); the sender's upload shaping was
 * its own veth end's qdisc, before the frame reached here. So a frame from A to B takes A's
 * upload queue, then exactly DELAY here, then B's download queue.
 *
 * Usage: delayline DELAY_NS IFACE=MAC [IFACE=MAC ...]
 *   DELAY_NS  the one-way latency in nanoseconds (0 passes frames at once)
 *   IFACE=MAC a hub-side port and the MAC address of the peer behind it (run.sh sets every
 *             peer's MAC, so the table is static: no learning, no flooding but broadcasts)
 * It prints "delayline: ready" on stdout once every port is open, and on SIGTERM or SIGINT
 * prints its counts on stderr and exits 0.
 *
 * The delay is the same for every frame, so one FIFO ring ordered by arrival is also ordered by
 * departure; frames due within 0.1 ms of each other leave together. Frames that find the ring full, or whose destination port's queue refuses them
 * (its qdisc full), are dropped and counted, as a router would.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 512
#define SLOT_BYTES 2048
#define RING_SLOTS 32768 /* 64 MiB of frames: far more than a latency's worth at these rates */
/* Frames due within this much of now go together: fewer wake-ups, the latency exact to 0.1 ms. */
#define SLACK_NS 100000

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

struct port {
    char name[IF_NAMESIZE];
    unsigned char mac[6];
    int fd;
};

struct slot {
    int64_t due_ns;
    int in_port;
    int len;
    unsigned char data[SLOT_BYTES];
};

static struct port ports[MAX_PORTS];
static int nports;
static struct slot *ring;
static size_t head, count;
static volatile sig_atomic_t stop;
static int64_t delay_ns_value; /* the one-way latency, set once in main */
static unsigned long long received, forwarded, dropped_ring, dropped_port, dropped_unknown,
    dropped_size;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int parse_mac(const char *s, unsigned char mac[6]) {
    unsigned v[6];
    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
        return -1;
    for (int i = 0; i < 6; i++) {
        if (v[i] > 255)
            return -1;
        mac[i] = (unsigned char)v[i];
    }
    return 0;
}

static int open_port(struct port *p) {
    unsigned ifindex = if_nametoindex(p->name);
    if (ifindex == 0) {
        fprintf(stderr, "delayline: no interface %s: %s\n", p->name, strerror(errno));
        return -1;
    }
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0) {
        fprintf(stderr, "delayline: packet socket: %s\n", strerror(errno));
        return -1;
    }
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = (int)ifindex;
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
        fprintf(stderr, "delayline: bind to %s: %s\n", p->name, strerror(errno));
        return -1;
    }
    int one = 1;
    /* Not the frames this program itself sends out of the port. */
    if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) {
        fprintf(stderr, "delayline: PACKET_IGNORE_OUTGOING on %s: %s\n", p->name, strerror(errno));
        return -1;
    }
    /* Buffers large enough that only the qdiscs decide what is queued and dropped. */
    int big = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
    p->fd = fd;
    return 0;
}

static int port_of(const unsigned char *mac) {
    for (int i = 0; i < nports; i++)
        if (memcmp(ports[i].mac, mac, 6) == 0)
            return i;
    return -1;
}

static void send_frame(int port, const struct slot *s) {
    if (send(ports[port].fd, s->data, (size_t)s->len, 0) < 0)
        dropped_port++;
    else
        forwarded++;
}

static void forward(const struct slot *s) {
    const unsigned char *dst = s->data;
    if (dst[0] & 1) { /* broadcast or multicast: every other port */
        for (int i = 0; i < nports; i++)
            if (i != s->in_port)
                send_frame(i, s);
        return;
    }
    int port = port_of(dst);
    if (port < 0 || port == s->in_port) {
        dropped_unknown++;
        return;
    }
    send_frame(port, s);
}

static void drain(int port) {
    for (;;) {
        struct slot *s = count < RING_SLOTS ? &ring[(head + count) % RING_SLOTS] : NULL;
        unsigned char scratch[SLOT_BYTES];
        unsigned char *buf = s ? s->data : scratch;
        struct sockaddr_ll from;
        socklen_t fromlen = sizeof from;
        ssize_t n = recvfrom(ports[port].fd, buf, SLOT_BYTES, MSG_TRUNC, (struct sockaddr *)&from,
                             &fromlen);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            fprintf(stderr, "delayline: recv on %s: %s\n", ports[port].name, strerror(errno));
            exit(1);
        }
        if (from.sll_pkttype == PACKET_OUTGOING)
            continue;
        received++;
        if (n > SLOT_BYTES || n < 14) { /* offloads must be off (run.sh turns them off) */
            dropped_size++;
            continue;
        }
        if (!s) {
            dropped_ring++;
            continue;
        }
        s->len = (int)n;
        s->in_port = port;
        s->due_ns = now_ns() + delay_ns_value;
        count++;
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: delayline DELAY_NS IFACE=MAC [IFACE=MAC ...]\n");
        return 2;
    }
    char *end;
    long long d = strtoll(argv[1], &end, 10);
    if (*end || d < 0) {
        fprintf(stderr, "delayline: bad delay %s (nanoseconds, a whole number)\n", argv[1]);
        return 2;
    }
    delay_ns_value = d;
    for (int i = 2; i < argc; i++) {
        if (nports == MAX_PORTS) {
            fprintf(stderr, "delayline: more than %d ports\n", MAX_PORTS);
            return 2;
        }
        char *eq = strchr(argv[i], '=');
        if (!eq || (size_t)(eq - argv[i]) >= IF_NAMESIZE || parse_mac(eq + 1, ports[nports].mac)) {
            fprintf(stderr, "delayline: bad port %s (IFACE=MAC)\n", argv[i]);
            return 2;
        }
        memcpy(ports[nports].name, argv[i], (size_t)(eq - argv[i]));
        ports[nports].name[eq - argv[i]] = 0;
        if (open_port(&ports[nports]))
            return 1;
        nports++;
    }
    ring = calloc(RING_SLOTS, sizeof *ring);
    if (!ring) {
        fprintf(stderr, "delayline: out of memory\n");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        fprintf(stderr, "delayline: epoll_create1: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < nports; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, ports[i].fd, &ev) < 0) {
            fprintf(stderr, "delayline: epoll_ctl: %s\n", strerror(errno));
            return 1;
        }
    }
    printf("delayline: ready\n");
    fflush(stdout);

    struct epoll_event events[MAX_PORTS];
    while (!stop) {
        struct timespec ts, *tsp = NULL;
        if (count) {
            int64_t wait = ring[head].due_ns - now_ns();
            if (wait < 0)
                wait = 0;
            ts.tv_sec = wait / 1000000000LL;
            ts.tv_nsec = wait % 1000000000LL;
            tsp = &ts;
        }
        int r = epoll_pwait2(ep, events, MAX_PORTS, tsp, NULL);
        if (r < 0 && errno != EINTR) {
            fprintf(stderr, "delayline: epoll_pwait2: %s\n", strerror(errno));
            return 1;
        }
        for (int k = 0; k < r; k++)
            drain((int)events[k].data.u32);
        int64_t now = now_ns() + SLACK_NS;
        while (count && ring[head].due_ns <= now) {
            forward(&ring[head]);
            head = (head + 1) % RING_SLOTS;
            count--;
        }
    }
    fprintf(stderr,
            "delayline: %llu frames received, %llu sent; dropped: %llu ring full, %llu refused by "
            "a port's queue, %llu to no port, %llu oversized\n",
            received, forwarded, dropped_ring, dropped_port, dropped_unknown, dropped_size);
    return 0;
}
