/* A fast keep-alive HTTP/1.1 backend for bench/gateway.py, never part of the product.
 *
 * One thread, one epoll. Every request gets 200. A POST whose body is a Lambda-proxy event
 * (the gateway's MESSAGE event) is answered with the event's "body" string, unescaped, as a
 * plain text answer: behind a two-way route ($default with route_response = true) the client
 * gets back exactly what it sent, which is what wsload's echo mode checks. A GET is answered
 * with "R C": the requests answered and the connections accepted so far (the benchmark reads
 * it between runs; the GET is not counted as a request, its connection is). Anything else
 * gets an empty body. Connections stay open until the peer closes them.
 *
 *   gateway_backend PORT          listens on 127.0.0.1:PORT (0: a free port)
 *
 * Prints "port N" on stdout once listening; on SIGTERM or SIGINT prints
 * "requests R connections C" and exits 0. Loopback only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define MAX_REQUEST (1u << 20) /* a request larger than this closes the connection */

struct conn {
  int fd;
  char *in;
  size_t in_len, in_cap;
  char *out;
  size_t out_len, out_off, out_cap;
  int want_out; /* EPOLLOUT registered */
};

static volatile sig_atomic_t stopping = 0;
static unsigned long long requests = 0;
static unsigned long long accepted = 0; /* connections */

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static int reserve(char **buf, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  size_t cap2 = *cap ? *cap : 4096;
  while (cap2 < need) cap2 *= 2;
  char *p = realloc(*buf, cap2);
  if (!p) return -1;
  *buf = p;
  *cap = cap2;
  return 0;
}

static int append(struct conn *c, const char *data, size_t n) {
  if (reserve(&c->out, &c->out_cap, c->out_len + n) != 0) return -1;
  memcpy(c->out + c->out_len, data, n);
  c->out_len += n;
  return 0;
}

static int hex(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

static size_t put_utf8(char *out, unsigned cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

static int read_u4(const char *p, const char *end, unsigned *cp) {
  if (end - p < 4) return -1;
  unsigned v = 0;
  for (int i = 0; i < 4; ++i) {
    int h = hex(p[i]);
    if (h < 0) return -1;
    v = v * 16 + (unsigned)h;
  }
  *cp = v;
  return 0;
}

/* The event's top-level "body" string, unescaped into out (at most as long as the input).
 * The gateway writes keys without spaces and escapes every quote inside strings, so the
 * first unescaped `"body":"` is the key. Returns the length, or 0 when there is none. */
static size_t event_body(const char *json, size_t n, char *out) {
  static const char key[] = "\"body\":\"";
  const char *p = memmem(json, n, key, sizeof key - 1);
  if (!p) return 0;
  const char *end = json + n;
  p += sizeof key - 1;
  size_t len = 0;
  while (p < end && *p != '"') {
    if (*p != '\\') {
      out[len++] = *p++;
      continue;
    }
    if (++p >= end) return 0;
    char e = *p++;
    switch (e) {
      case 'n': out[len++] = '\n'; break;
      case 't': out[len++] = '\t'; break;
      case 'r': out[len++] = '\r'; break;
      case 'b': out[len++] = '\b'; break;
      case 'f': out[len++] = '\f'; break;
      case 'u': {
        unsigned cp;
        if (read_u4(p, end, &cp) != 0) return 0;
        p += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
          unsigned low;
          if (read_u4(p + 2, end, &low) == 0 && low >= 0xDC00 && low < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            p += 6;
          }
        }
        len += put_utf8(out + len, cp);
        break;
      }
      default: out[len++] = e; /* \" \\ \/ */
    }
  }
  return len;
}

/* Content-Length of a header block (0 when absent); -1 when it cannot be read. */
static long content_length(const char *head, size_t n) {
  const char *p = head, *end = head + n;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    static const char name[] = "content-length:";
    if ((size_t)(eol - p) > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
      const char *v = p + sizeof name - 1;
      while (v < eol && (*v == ' ' || *v == '\t')) ++v;
      long value = 0;
      int digits = 0;
      while (v < eol && *v >= '0' && *v <= '9') {
        value = value * 10 + (*v++ - '0');
        if (value > (long)MAX_REQUEST) return -1;
        ++digits;
      }
      return digits ? value : -1;
    }
    p = eol + 1;
  }
  return 0;
}

/* Answers every complete request in c->in. Returns -1 to close the connection. */
static int handle_requests(struct conn *c) {
  static char body[MAX_REQUEST];
  size_t off = 0;
  for (;;) {
    const char *start = c->in + off;
    size_t avail = c->in_len - off;
    const char *head_end = memmem(start, avail, "\r\n\r\n", 4);
    if (!head_end) {
      if (avail > 65536) return -1;
      break;
    }
    size_t head_len = (size_t)(head_end - start) + 4;
    long length = content_length(start, head_len);
    if (length < 0) return -1;
    if (avail < head_len + (size_t)length) break;
    size_t body_len = 0;
    const int is_get = avail >= 4 && memcmp(start, "GET ", 4) == 0;
    if (is_get) {
      body_len = (size_t)snprintf(body, 64, "%llu %llu", requests, accepted);
    } else {
      if (avail >= 5 && memcmp(start, "POST ", 5) == 0)
        body_len = event_body(start + head_len, (size_t)length, body);
      ++requests;
    }
    char header[128];
    int n = snprintf(header, sizeof header,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
                     body_len);
    if (append(c, header, (size_t)n) != 0 || append(c, body, body_len) != 0) return -1;
    off += head_len + (size_t)length;
  }
  if (off > 0) {
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
  }
  return 0;
}

static void close_conn(int ep, struct conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c->in);
  free(c->out);
  free(c);
}

/* Sends what is queued; registers for EPOLLOUT while something is left. -1: close. */
static int flush_out(int ep, struct conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return -1;
    }
    c->out_off += (size_t)n;
  }
  if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
  int want = c->out_len > 0;
  if (want != c->want_out) {
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) return -1;
    c->want_out = want;
  }
  return 0;
}

static int on_readable(int ep, struct conn *c) {
  for (;;) {
    if (reserve(&c->in, &c->in_cap, c->in_len + 16384) != 0) return -1;
    const size_t space = c->in_cap - c->in_len;
    ssize_t n = recv(c->fd, c->in + c->in_len, space, 0);
    if (n == 0) return -1;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return -1;
    }
    c->in_len += (size_t)n;
    if (c->in_len > MAX_REQUEST + 65536) return -1;
    if ((size_t)n < space) break; /* a short read: the socket is drained */
  }
  if (handle_requests(c) != 0) return -1;
  return flush_out(ep, c);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: gateway_backend PORT\n");
    return 2;
  }
  int port = atoi(argv[1]);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 1024) != 0) {
    perror("gateway_backend: listen");
    return 1;
  }
  socklen_t alen = sizeof addr;
  getsockname(lfd, (struct sockaddr *)&addr, &alen);
  printf("port %d\n", ntohs(addr.sin_port));
  fflush(stdout);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
  struct epoll_event events[MAX_EVENTS];
  while (!stopping) {
    int n = epoll_wait(ep, events, MAX_EVENTS, 500);
    for (int i = 0; i < n; ++i) {
      struct conn *c = events[i].data.ptr;
      if (c == NULL) {
        int fd;
        while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct conn *nc = calloc(1, sizeof *nc);
          if (!nc) {
            close(fd);
            continue;
          }
          nc->fd = fd;
          ++accepted;
          struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
          if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(nc);
          }
        }
        continue;
      }
      int failed = 0;
      if (events[i].events & (EPOLLERR | EPOLLHUP)) failed = 1;
      if (!failed && (events[i].events & EPOLLIN)) failed = on_readable(ep, c) != 0;
      if (!failed && (events[i].events & EPOLLOUT)) failed = flush_out(ep, c) != 0;
      if (failed) close_conn(ep, c);
    }
  }
  printf("requests %llu connections %llu\n", requests, accepted);
  fflush(stdout);
  return 0;
}
