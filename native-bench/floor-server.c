/*
 * The floor: the least a server can do per handshake on this machine. One thread, one epoll
 * set, non-blocking sockets: accept, read ONE length-prefixed frame (4-byte big-endian length),
 * write one pre-encoded response, then read and drop whatever follows until the peer closes.
 * What the raw Node server (raw-server.ts) does, without Node: the handshake scenario reports
 * agentlb and the raw Node server as ratios of it, so the kernel's share of a handshake is
 * visible apart from the runtime's.
 *
 *   floor-server --response-hex HEX [--host 127.0.0.1] [--port 0]
 *
 * prints one JSON line {"event":"listening","port":N} on stdout, then serves until SIGTERM.
 * Built by native-bench/native-build.ts with the machine's gcc, like client.c.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FRAME 65536
#define LISTEN_TAG UINT64_MAX

struct conn {
  int fd;
  int answered;
  int header_done;
  uint32_t have; /* header bytes read, 0..4 */
  unsigned char head[4];
  uint32_t need; /* payload bytes still to come before the frame is whole */
};

static unsigned char *response;
static size_t response_len;
static volatile sig_atomic_t stopping;

static void die(const char *message) {
  fprintf(stderr, "floor-server: %s\n", message);
  exit(2);
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void parse_response(const char *hex) {
  size_t len = strlen(hex);
  if (len == 0 || len % 2 != 0) die("--response-hex must be a non-empty even-length hex string");
  response_len = len / 2;
  response = malloc(response_len);
  if (!response) die("out of memory");
  for (size_t i = 0; i < response_len; i++) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) die("--response-hex holds a non-hex character");
    response[i] = (unsigned char)(hi * 16 + lo);
  }
}

static void on_term(int sig) {
  (void)sig;
  stopping = 1;
}

static void drop(struct conn *c) {
  close(c->fd); /* also leaves the epoll set */
  free(c);
}

/* Reads what the socket holds; answers once the first frame is whole. Returns 0 when closed. */
static int serve(struct conn *c) {
  unsigned char buf[16384];
  for (;;) {
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n == 0) return 0;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    if (c->answered) continue; /* later bytes are read and dropped */
    size_t pos = 0;
    while (!c->header_done && pos < (size_t)n) {
      c->head[c->have++] = buf[pos++];
      if (c->have < 4) continue;
      uint32_t len = ((uint32_t)c->head[0] << 24) | ((uint32_t)c->head[1] << 16) | ((uint32_t)c->head[2] << 8) | c->head[3];
      if (len == 0 || len > MAX_FRAME) return 0;
      c->need = len;
      c->header_done = 1;
    }
    if (!c->header_done) continue;
    size_t rest = (size_t)n - pos;
    if (rest < c->need) {
      c->need -= (uint32_t)rest;
      continue;
    }
    /* The response is far below the socket buffer: one send() takes it whole. */
    if (send(c->fd, response, response_len, MSG_NOSIGNAL) != (ssize_t)response_len) return 0;
    c->answered = 1;
  }
}

int main(int argc, char **argv) {
  static struct option long_options[] = {
      {"response-hex", required_argument, 0, 'x'}, {"host", required_argument, 0, 'h'}, {"port", required_argument, 0, 'p'}, {0, 0, 0, 0}};
  struct in_addr host;
  inet_pton(AF_INET, "127.0.0.1", &host);
  long port = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
    switch (c) {
      case 'x': parse_response(optarg); break;
      case 'h':
        if (inet_pton(AF_INET, optarg, &host) != 1) die("--host must be an IPv4 address");
        break;
      case 'p': {
        char *end;
        port = strtol(optarg, &end, 10);
        if (*end || port < 0 || port > 65535) die("--port must be 0..65535");
        break;
      }
      default: die("unknown option (see the header of floor-server.c)");
    }
  }
  if (!response) die("--response-hex is required");
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_term};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("socket failed");
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = host};
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) die(strerror(errno));
  if (listen(lfd, 4096) < 0) die("listen failed");
  socklen_t alen = sizeof addr;
  getsockname(lfd, (struct sockaddr *)&addr, &alen);
  printf("{\"event\":\"listening\",\"port\":%u}\n", ntohs(addr.sin_port));
  fflush(stdout);

  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1 failed");
  struct epoll_event lev = {.events = EPOLLIN, .data.u64 = LISTEN_TAG};
  epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);
  struct epoll_event events[256];
  while (!stopping) {
    int n = epoll_wait(epfd, events, 256, 200);
    if (n < 0 && errno != EINTR) die("epoll_wait failed");
    for (int i = 0; i < n; i++) {
      if (events[i].data.u64 == LISTEN_TAG) {
        for (;;) {
          int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break; /* EAGAIN, or a transient error (EMFILE...): retried on the next event */
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct conn *conn = calloc(1, sizeof *conn);
          if (!conn) { close(fd); continue; }
          conn->fd = fd;
          struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = conn};
          if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) { drop(conn); continue; }
          /* The hello is usually there already (it is sent right after connect). */
          if (!serve(conn)) drop(conn);
        }
        continue;
      }
      struct conn *conn = events[i].data.ptr;
      if (!serve(conn) || (events[i].events & (EPOLLHUP | EPOLLERR))) drop(conn);
    }
  }
  return 0;
}
