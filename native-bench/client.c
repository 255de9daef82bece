/*
 * The native handshake client: the baseline that shows a server's own ceiling.
 *
 * A Node client spends about as much CPU per connection as the server it measures, so on a
 * 2-core machine it caps the figure it is meant to record. This client uses one thread and one
 * epoll set: it keeps `concurrency` connections in flight, each doing
 *   connect (from one of several 127.0.0.x source addresses) -> send hello -> read frames until
 *   the expected frame type (`welcome` or `hosts`) -> close
 * and reports count, errors, elapsed time, latency percentiles and its own CPU time as one
 * JSON object on stdout.
 *
 * The hello frame is encoded by the Node side (one codec for the whole project) and passed in
 * as hex; this client only writes each connection's index as fixed-width decimal digits at
 * `guid-offset` so every connection is a distinct agent. Incoming frames are parsed just
 * enough to find the value of the `type` key (a minimal msgpack skipper, no allocation).
 *
 * Built by native-bench/native-client.ts with the machine's gcc into native-bench/out/.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_FRAME 65536
#define MAX_SOURCES 64
#define READ_BUFFER (MAX_FRAME + 4)

enum failure { F_CONNECT, F_TIMEOUT, F_CLOSED, F_ERROR_FRAME, F_BAD_FRAME, F_IO, F_KINDS };
static const char *failure_names[F_KINDS] = {"connect", "timeout", "closed", "errorFrame", "badFrame", "io"};

enum state { S_FREE, S_CONNECTING, S_READING };

struct slot {
  int fd;
  enum state state;
  uint32_t index;
  uint64_t started_ns;
  uint32_t have;
  unsigned char *buf;
};

struct options {
  struct in_addr target;
  uint16_t port;
  uint32_t count;
  uint32_t concurrency;
  struct in_addr sources[MAX_SOURCES];
  int source_count;
  unsigned char *hello;
  size_t hello_len;
  size_t guid_offset;
  size_t guid_width;
  uint64_t guid_base;
  char until[16];
  uint64_t timeout_ns;
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *message) {
  fprintf(stderr, "client: %s\n", message);
  exit(2);
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void parse_hex(const char *hex, struct options *o) {
  size_t len = strlen(hex);
  if (len == 0 || len % 2 != 0) die("--hello-hex must be a non-empty even-length hex string");
  o->hello_len = len / 2;
  o->hello = malloc(o->hello_len);
  if (!o->hello) die("out of memory");
  for (size_t i = 0; i < o->hello_len; i++) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) die("--hello-hex holds a non-hex character");
    o->hello[i] = (unsigned char)(hi * 16 + lo);
  }
}

static void parse_sources(char *list, struct options *o) {
  for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
    if (o->source_count == MAX_SOURCES) die("too many --sources (at most 64)");
    if (inet_pton(AF_INET, tok, &o->sources[o->source_count]) != 1) die("--sources holds a bad IPv4 address");
    o->source_count++;
  }
}

static uint64_t parse_number(const char *text, const char *flag) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno || *end || end == text) {
    fprintf(stderr, "client: %s needs a non-negative integer, got \"%s\"\n", flag, text);
    exit(2);
  }
  return v;
}

static void parse_options(int argc, char **argv, struct options *o) {
  static struct option long_options[] = {
      {"host", required_argument, 0, 'h'},        {"port", required_argument, 0, 'p'},
      {"count", required_argument, 0, 'n'},       {"concurrency", required_argument, 0, 'c'},
      {"sources", required_argument, 0, 's'},     {"hello-hex", required_argument, 0, 'x'},
      {"guid-offset", required_argument, 0, 'o'}, {"guid-width", required_argument, 0, 'w'},
      {"guid-base", required_argument, 0, 'b'},   {"until", required_argument, 0, 'u'},
      {"timeout-ms", required_argument, 0, 't'},  {0, 0, 0, 0}};
  memset(o, 0, sizeof *o);
  inet_pton(AF_INET, "127.0.0.1", &o->target);
  o->concurrency = 100;
  o->timeout_ns = 10000ull * 1000000ull;
  strcpy(o->until, "welcome");
  int c;
  while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
    switch (c) {
      case 'h':
        if (inet_pton(AF_INET, optarg, &o->target) != 1) die("--host must be an IPv4 address");
        break;
      case 'p': o->port = (uint16_t)parse_number(optarg, "--port"); break;
      case 'n': o->count = (uint32_t)parse_number(optarg, "--count"); break;
      case 'c': o->concurrency = (uint32_t)parse_number(optarg, "--concurrency"); break;
      case 's': parse_sources(optarg, o); break;
      case 'x': parse_hex(optarg, o); break;
      case 'o': o->guid_offset = parse_number(optarg, "--guid-offset"); break;
      case 'w': o->guid_width = parse_number(optarg, "--guid-width"); break;
      case 'b': o->guid_base = parse_number(optarg, "--guid-base"); break;
      case 'u':
        if (strlen(optarg) >= sizeof o->until) die("--until names a frame type such as welcome or hosts");
        strcpy(o->until, optarg);
        break;
      case 't': o->timeout_ns = parse_number(optarg, "--timeout-ms") * 1000000ull; break;
      default: die("unknown option (see the header of client.c)");
    }
  }
  if (optind != argc) die("unexpected positional argument");
  if (o->port == 0) die("--port is required");
  if (!o->hello) die("--hello-hex is required");
  if (o->concurrency == 0) die("--concurrency must be at least 1");
  if (o->guid_width == 0 || o->guid_width > 20) die("--guid-width must be 1..20");
  if (o->guid_offset + o->guid_width > o->hello_len) die("--guid-offset/--guid-width fall outside the hello frame");
  if (o->source_count == 0) o->sources[o->source_count++] = o->target;
}

/* ---- minimal msgpack: skip one value, find the `type` string of a map ---- */

static int need(size_t pos, size_t n, size_t len) { return pos + n <= len; }

static uint32_t be(const unsigned char *p, int n) {
  uint32_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

/* Returns the position after the value at `pos`, or 0 when the bytes are not valid msgpack. */
static size_t skip_value(const unsigned char *p, size_t pos, size_t len, int depth) {
  if (depth > 16 || !need(pos, 1, len)) return 0;
  unsigned char b = p[pos++];
  uint32_t n = 0, items = 0;
  if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) return pos;
  if ((b & 0xe0) == 0xa0) n = b & 0x1f;
  else if ((b & 0xf0) == 0x90) items = b & 0x0f;
  else if ((b & 0xf0) == 0x80) items = 2u * (b & 0x0f);
  else switch (b) {
      case 0xcc: case 0xd0: n = 1; break;
      case 0xcd: case 0xd1: n = 2; break;
      case 0xca: case 0xce: case 0xd2: n = 4; break;
      case 0xcb: case 0xcf: case 0xd3: n = 8; break;
      case 0xd9: case 0xc4: if (!need(pos, 1, len)) return 0; n = p[pos]; pos += 1; break;
      case 0xda: case 0xc5: if (!need(pos, 2, len)) return 0; n = be(p + pos, 2); pos += 2; break;
      case 0xdb: case 0xc6: if (!need(pos, 4, len)) return 0; n = be(p + pos, 4); pos += 4; break;
      case 0xdc: if (!need(pos, 2, len)) return 0; items = be(p + pos, 2); pos += 2; break;
      case 0xdd: if (!need(pos, 4, len)) return 0; items = be(p + pos, 4); pos += 4; break;
      case 0xde: if (!need(pos, 2, len)) return 0; items = 2u * be(p + pos, 2); pos += 2; break;
      case 0xdf: if (!need(pos, 4, len)) return 0; items = 2u * be(p + pos, 4); pos += 4; break;
      default: return 0; /* extensions: never sent by a conforming server */
    }
  if (!need(pos, n, len)) return 0;
  pos += n;
  for (uint32_t i = 0; i < items; i++) {
    pos = skip_value(p, pos, len, depth + 1);
    if (pos == 0) return 0;
  }
  return pos;
}

/* Reads a str at `pos`; sets *start and *slen. Returns 0 when the value is not a string. */
static int read_str(const unsigned char *p, size_t pos, size_t len, size_t *start, size_t *slen) {
  if (!need(pos, 1, len)) return 0;
  unsigned char b = p[pos];
  if ((b & 0xe0) == 0xa0) { *slen = b & 0x1f; *start = pos + 1; }
  else if (b == 0xd9 && need(pos, 2, len)) { *slen = p[pos + 1]; *start = pos + 2; }
  else if (b == 0xda && need(pos, 3, len)) { *slen = be(p + pos + 1, 2); *start = pos + 3; }
  else return 0;
  return need(*start, *slen, len);
}

/* Copies the `type` value of the map payload into `out`; returns 0 when there is none. */
static int frame_type(const unsigned char *p, size_t len, char *out, size_t out_size) {
  if (len == 0) return 0;
  size_t pos = 1;
  uint32_t pairs;
  unsigned char b = p[0];
  if ((b & 0xf0) == 0x80) pairs = b & 0x0f;
  else if (b == 0xde && len >= 3) { pairs = be(p + 1, 2); pos = 3; }
  else return 0;
  for (uint32_t i = 0; i < pairs; i++) {
    size_t kstart, klen, vstart, vlen;
    if (!read_str(p, pos, len, &kstart, &klen)) return 0;
    pos = kstart + klen;
    if (klen == 4 && memcmp(p + kstart, "type", 4) == 0) {
      if (!read_str(p, pos, len, &vstart, &vlen) || vlen >= out_size) return 0;
      memcpy(out, p + vstart, vlen);
      out[vlen] = 0;
      return 1;
    }
    pos = skip_value(p, pos, len, 0);
    if (pos == 0) return 0;
  }
  return 0;
}

/* ---- the run ---- */

struct run {
  struct options *o;
  int epfd;
  struct slot *slots;
  uint32_t next_index, done, ok;
  uint32_t failures[F_KINDS];
  uint32_t *latency_us;
  uint32_t latency_count;
  unsigned char *hello; /* the template, patched per connection */
};

static void write_guid(unsigned char *dst, size_t width, uint64_t value) {
  for (size_t i = width; i-- > 0;) {
    dst[i] = (unsigned char)('0' + value % 10);
    value /= 10;
  }
}

static void release(struct run *r, struct slot *s) {
  if (s->fd >= 0) close(s->fd); /* close() also removes it from the epoll set */
  s->fd = -1;
  s->state = S_FREE;
  s->have = 0;
  r->done++;
}

static void fail(struct run *r, struct slot *s, enum failure kind) {
  r->failures[kind]++;
  release(r, s);
}

static void succeed(struct run *r, struct slot *s) {
  uint64_t us = (now_ns() - s->started_ns) / 1000;
  r->latency_us[r->latency_count++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
  r->ok++;
  release(r, s);
}

/* Starts the next connection in a free slot; returns 0 when every connection has started. */
static int start(struct run *r, struct slot *s) {
  struct options *o = r->o;
  if (r->next_index >= o->count) return 0;
  s->index = r->next_index++;
  s->started_ns = now_ns();
  s->have = 0;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { s->fd = -1; fail(r, s, F_CONNECT); return 1; }
  s->fd = fd;
  int one = 1;
  /* Let connect() pick the port for the full 4-tuple, so each source address has its own
   * ephemeral range instead of bind() reserving a port across every destination. */
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0};
  src.sin_addr = o->sources[s->index % (uint32_t)o->source_count];
  if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) { fail(r, s, F_CONNECT); return 1; }
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(o->port), .sin_addr = o->target};
  if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
    fail(r, s, F_CONNECT);
    return 1;
  }
  s->state = S_CONNECTING;
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = s};
  if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) fail(r, s, F_IO);
  return 1;
}

static void on_writable(struct run *r, struct slot *s) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) { fail(r, s, F_CONNECT); return; }
  write_guid(r->hello + r->o->guid_offset, r->o->guid_width, r->o->guid_base + s->index);
  /* A hello is far below the socket buffer: one send() takes it whole on a fresh socket. */
  ssize_t n = send(s->fd, r->hello, r->o->hello_len, MSG_NOSIGNAL);
  if (n != (ssize_t)r->o->hello_len) { fail(r, s, F_IO); return; }
  s->state = S_READING;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = s};
  if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, s->fd, &ev) < 0) fail(r, s, F_IO);
}

static void on_readable(struct run *r, struct slot *s) {
  for (;;) {
    ssize_t n = recv(s->fd, s->buf + s->have, READ_BUFFER - s->have, 0);
    if (n == 0) { fail(r, s, F_CLOSED); return; }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      fail(r, s, errno == ECONNRESET ? F_CLOSED : F_IO);
      return;
    }
    s->have += (uint32_t)n;
    uint32_t pos = 0;
    while (s->have - pos >= 4) {
      uint32_t frame_len = be(s->buf + pos, 4);
      if (frame_len == 0 || frame_len > MAX_FRAME) { fail(r, s, F_BAD_FRAME); return; }
      if (s->have - pos - 4 < frame_len) break;
      char type[16];
      if (!frame_type(s->buf + pos + 4, frame_len, type, sizeof type)) { fail(r, s, F_BAD_FRAME); return; }
      if (strcmp(type, "error") == 0) { fail(r, s, F_ERROR_FRAME); return; }
      if (strcmp(type, r->o->until) == 0) { succeed(r, s); return; }
      pos += 4 + frame_len;
    }
    if (pos > 0) {
      memmove(s->buf, s->buf + pos, s->have - pos);
      s->have -= pos;
    }
  }
}

static void expire(struct run *r, uint64_t now) {
  for (uint32_t i = 0; i < r->o->concurrency; i++) {
    struct slot *s = &r->slots[i];
    if (s->state != S_FREE && now - s->started_ns > r->o->timeout_ns) {
      fail(r, s, F_TIMEOUT);
      start(r, s);
    }
  }
}

static int compare_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

static double percentile_ms(const uint32_t *sorted, uint32_t n, double p) {
  if (n == 0) return 0;
  uint32_t rank = (uint32_t)(p / 100.0 * n + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return sorted[rank - 1] / 1000.0;
}

static double cpu_ms(struct timeval tv) { return tv.tv_sec * 1000.0 + tv.tv_usec / 1000.0; }

static void report(struct run *r, uint64_t elapsed_ns) {
  qsort(r->latency_us, r->latency_count, sizeof(uint32_t), compare_u32);
  double sum = 0;
  for (uint32_t i = 0; i < r->latency_count; i++) sum += r->latency_us[i];
  uint32_t errors = 0;
  for (int k = 0; k < F_KINDS; k++) errors += r->failures[k];
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double elapsed_ms = elapsed_ns / 1e6;
  printf("{\"count\":%u,\"ok\":%u,\"errors\":%u,\"errorKinds\":{", r->o->count, r->ok, errors);
  for (int k = 0; k < F_KINDS; k++) printf("%s\"%s\":%u", k ? "," : "", failure_names[k], r->failures[k]);
  printf("},\"elapsedMs\":%.3f,\"rate\":%.1f,", elapsed_ms, elapsed_ms > 0 ? r->ok * 1000.0 / elapsed_ms : 0.0);
  printf("\"latencyMs\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f},",
         percentile_ms(r->latency_us, r->latency_count, 50), percentile_ms(r->latency_us, r->latency_count, 90),
         percentile_ms(r->latency_us, r->latency_count, 99), percentile_ms(r->latency_us, r->latency_count, 100),
         r->latency_count ? sum / r->latency_count / 1000.0 : 0.0);
  printf("\"cpuMs\":{\"user\":%.1f,\"system\":%.1f}}\n", cpu_ms(ru.ru_utime), cpu_ms(ru.ru_stime));
}

int main(int argc, char **argv) {
  struct options o;
  parse_options(argc, argv, &o);
  struct run r = {.o = &o};
  r.epfd = epoll_create1(EPOLL_CLOEXEC);
  if (r.epfd < 0) die("epoll_create1 failed");
  r.slots = calloc(o.concurrency, sizeof *r.slots);
  r.latency_us = malloc(sizeof(uint32_t) * (o.count ? o.count : 1));
  r.hello = malloc(o.hello_len);
  if (!r.slots || !r.latency_us || !r.hello) die("out of memory");
  memcpy(r.hello, o.hello, o.hello_len);
  for (uint32_t i = 0; i < o.concurrency; i++) {
    r.slots[i].fd = -1;
    r.slots[i].buf = malloc(READ_BUFFER);
    if (!r.slots[i].buf) die("out of memory");
  }

  uint64_t began = now_ns(), last_expiry = began;
  for (uint32_t i = 0; i < o.concurrency; i++) start(&r, &r.slots[i]);
  struct epoll_event events[256];
  while (r.done < o.count) {
    int n = epoll_wait(r.epfd, events, 256, 50);
    if (n < 0 && errno != EINTR) die("epoll_wait failed");
    for (int i = 0; i < n; i++) {
      struct slot *s = events[i].data.ptr;
      /* A slot freed and restarted earlier in this batch carries a new fd: its old event is stale. */
      if (s->state == S_CONNECTING && (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) on_writable(&r, s);
      else if (s->state == S_READING) on_readable(&r, s);
      if (s->state == S_FREE) start(&r, s);
    }
    uint64_t now = now_ns();
    if (now - last_expiry > 50000000ull) {
      expire(&r, now);
      last_expiry = now;
    }
  }
  report(&r, now_ns() - began);
  return 0;
}
