/* bench/floor/afp-floor.c — the AF_PACKET floor: the least work a user-space switch built on packet
 * sockets can do per frame, in C, with no switching logic beyond a learned MAC table. It is not xvs; it
 * is the reference that says how close to the Linux bridge any AF_PACKET switch (xvs included) can get
 * on this machine, so a target like "TCP with offloads >= 0.9x the bridge" can be judged (docs/BENCHMARKS.md).
 *
 *   afp-floor [--copy|--tx-ring] PORT PORT...   forward between the veth ends PORT... until SIGTERM/SIGINT
 *
 * Per port: SOCK_RAW, PACKET_VNET_HDR (GSO super-frames and partial checksums pass through), TPACKET_V2
 * rx ring (256 frames of 68 KiB, like xvs), PACKET_QDISC_BYPASS, PACKET_IGNORE_OUTGOING. One thread:
 * poll, then the ready ring frames of a port (64 at most) are sent with one blocking sendmmsg per output
 * port whose iovecs point into the ring (no user-space copy: the kernel's rx copy into the ring and its tx
 * copy out of it are the only ones; blocking, so a full socket costs time, not frames), and the ring
 * frames are returned. --copy first copies each frame into a buffer (what a switch that keeps frames
 * after the ring frame is returned pays). --tx-ring copies each frame (user space) into the egress socket's
 * PACKET_TX_RING instead, and `tpacket_snd` hangs the ring's pages on the skb without a copy or a page
 * allocation: the other way to send on a packet socket (the TX frame stays owned until the skb is freed,
 * which on a veth means until the receiving socket consumed it). Unknown and group destinations go to
 * every other port.
 * Like xvs (src/ports/isolation.ts), the caller gives each port a tc ingress drop so the host stack does
 * not also process every frame.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAXP 16
#define FRAMES 256
#define FSZ (17 * 4096)
#define VNET 10
#define MACS 64

struct port { int fd; uint8_t *ring, *txring; unsigned cur, txcur; const char *name; unsigned long rx, tx, txerr, txwait; };
static int txring;  /* --tx-ring */
static struct port P[MAXP];
static int np;
static volatile sig_atomic_t stop;
static struct { uint8_t mac[6]; int port; } fdb[MACS];
static int nfdb;
#define BATCH 64
static uint8_t (*copybuf)[FSZ];  /* BATCH buffers for --copy */
static struct mmsghdr msgs[MAXP][BATCH];
static struct iovec iovs[MAXP][BATCH];
static int nout[MAXP];

static void die(const char *what, const char *ifn) { fprintf(stderr, "afp-floor: %s(%s): %s\n", what, ifn, strerror(errno)); exit(1); }
static void on_sig(int s) { (void)s; stop = 1; }

static void open_port(struct port *p, const char *ifn) {
  int one = 1, ver = TPACKET_V2, buf = 4 << 20;
  p->name = ifn;
  p->fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (p->fd < 0) die("socket", ifn);
  if (setsockopt(p->fd, SOL_PACKET, PACKET_VERSION, &ver, sizeof ver) < 0) die("PACKET_VERSION", ifn);
  if (setsockopt(p->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) die("PACKET_VNET_HDR", ifn);
  if (setsockopt(p->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0) die("PACKET_QDISC_BYPASS", ifn);
  if (setsockopt(p->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) die("PACKET_IGNORE_OUTGOING", ifn);
  setsockopt(p->fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf);
  setsockopt(p->fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
  struct tpacket_req req = { .tp_block_size = FSZ, .tp_block_nr = FRAMES, .tp_frame_size = FSZ, .tp_frame_nr = FRAMES };
  if (setsockopt(p->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) die("PACKET_RX_RING", ifn);
  if (txring && setsockopt(p->fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof req) < 0) die("PACKET_TX_RING", ifn);
  p->ring = mmap(NULL, (size_t)FSZ * FRAMES * (txring ? 2 : 1), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, p->fd, 0);
  if (p->ring == MAP_FAILED) die("mmap", ifn);
  p->txring = p->ring + (size_t)FSZ * FRAMES;  /* the TX ring follows the RX ring in the mapping */
  struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)if_nametoindex(ifn) };
  if (!sll.sll_ifindex) die("if_nametoindex", ifn);
  if (bind(p->fd, (struct sockaddr *)&sll, sizeof sll) < 0) die("bind", ifn);
}

static int lookup(const uint8_t *mac) {
  for (int i = 0; i < nfdb; i++) if (!memcmp(fdb[i].mac, mac, 6)) return fdb[i].port;
  return -1;
}
static void learn(const uint8_t *mac, int port) {
  if (mac[0] & 1) return;
  for (int i = 0; i < nfdb; i++) if (!memcmp(fdb[i].mac, mac, 6)) { fdb[i].port = port; return; }
  if (nfdb < MACS) { memcpy(fdb[nfdb].mac, mac, 6); fdb[nfdb++].port = port; }
}

static void put_tx(int out, const uint8_t *data, size_t len);
static void send_to(int out, uint8_t *data, size_t len) {
  if (txring) { put_tx(out, data, len); return; }
  int k = nout[out]++;
  iovs[out][k] = (struct iovec){ data, len };
  msgs[out][k] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iovs[out][k], .msg_iovlen = 1 } };
}
/* --tx-ring: copy into the next free TX frame, waiting (POLLOUT) while the kernel still owns it */
static void put_tx(int out, const uint8_t *data, size_t len) {
  struct port *p = &P[out];
  struct tpacket2_hdr *h = (struct tpacket2_hdr *)(p->txring + (size_t)p->txcur * FSZ);
  while (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE) {
    send(p->fd, NULL, 0, MSG_DONTWAIT);  /* kick what is queued */
    struct pollfd w = { .fd = p->fd, .events = POLLOUT };
    p->txwait++;
    if (poll(&w, 1, 100) < 0 && errno != EINTR) die("poll(POLLOUT)", p->name);
    if (stop) return;
  }
  memcpy((uint8_t *)h + TPACKET2_HDRLEN - sizeof(struct sockaddr_ll), data, len);
  h->tp_len = (uint32_t)len;
  __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
  p->txcur = (p->txcur + 1) % FRAMES;
  nout[out]++;
}
static void flush(void) {
  if (txring) {
    for (int o = 0; o < np; o++) {
      if (!nout[o]) continue;
      if (send(P[o].fd, NULL, 0, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS) P[o].txerr++;
      P[o].tx += (unsigned)nout[o]; nout[o] = 0;
    }
    return;
  }
  for (int o = 0; o < np; o++) {
    int done = 0;
    while (done < nout[o]) {
      int r = sendmmsg(P[o].fd, msgs[o] + done, (unsigned)(nout[o] - done), 0);
      if (r < 0) { if (errno == EINTR) continue; P[o].txerr++; done++; continue; }  /* skip the frame it refused */
      P[o].tx += (unsigned)r; done += r;
    }
    nout[o] = 0;
  }
}

int main(int argc, char **argv) {
  int a = 1, copy = 0;
  if (a < argc && !strcmp(argv[a], "--copy")) { copy = 1; a++; }
  else if (a < argc && !strcmp(argv[a], "--tx-ring")) { txring = 1; a++; }
  if (argc - a < 2 || argc - a > MAXP) { fprintf(stderr, "usage: afp-floor [--copy|--tx-ring] PORT PORT...\n"); return 2; }
  for (; a < argc; a++) open_port(&P[np++], argv[a]);
  if (copy && !(copybuf = malloc((size_t)BATCH * FSZ))) die("malloc", "*");
  signal(SIGTERM, on_sig); signal(SIGINT, on_sig);
  struct pollfd pfd[MAXP];
  for (int i = 0; i < np; i++) pfd[i] = (struct pollfd){ .fd = P[i].fd, .events = POLLIN };
  while (!stop) {
    int busy = 0;
    for (int i = 0; i < np; i++) {
      struct port *p = &P[i];
      unsigned first = p->cur, n = 0;
      while (n < BATCH) {
        struct tpacket2_hdr *h = (struct tpacket2_hdr *)(p->ring + (size_t)p->cur * FSZ);
        if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) break;
        uint8_t *frame = (uint8_t *)h + h->tp_mac - VNET;  /* [virtio-net header][frame] */
        size_t len = h->tp_snaplen + VNET;
        if (copy) { memcpy(copybuf[n], frame, len); frame = copybuf[n]; }
        learn(frame + VNET + 6, i);
        int out = (frame[VNET] & 1) ? -1 : lookup(frame + VNET);
        if (out >= 0 && out != i) send_to(out, frame, len);
        else if (out < 0) for (int o = 0; o < np; o++) if (o != i) send_to(o, frame, len);
        p->cur = (p->cur + 1) % FRAMES; n++;
      }
      if (!n) continue;
      busy = 1; p->rx += n;
      flush();
      for (unsigned k = 0; k < n; k++)
        __atomic_store_n(&((struct tpacket2_hdr *)(p->ring + (size_t)((first + k) % FRAMES) * FSZ))->tp_status,
                         TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    }
    if (!busy && poll(pfd, (nfds_t)np, 100) < 0 && errno != EINTR) die("poll", "*");
  }
  for (int i = 0; i < np; i++)
    fprintf(stderr, "afp-floor: %s rx %lu tx %lu tx-errors %lu tx-ring-waits %lu\n", P[i].name, P[i].rx, P[i].tx, P[i].txerr, P[i].txwait);
  return 0;
}
