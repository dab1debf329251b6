// What a TLS client costs a static binary (docs/architecture.md, "What the binary carries"): a
// minimal client with one of three libraries (-DUSE_OPENSSL, -DUSE_MBEDTLS, -DUSE_WOLFSSL, -DUSE_BEARSSL; none:
// plain TCP) that connects to 127.0.0.1:PORT, verifies the server against CA_FILE with SNI and
// host name "localhost", sends one request, prints the answer's first line, then holds the
// connection idle, as a Kubernetes API watch would, so that its RSS can be read.
// Usage: probe CA_FILE PORT. Not part of lastcall: run.sh builds and measures it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
static int tcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) {
    perror("connect");
    exit(1);
  }
  return fd;
}
static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
#if defined(USE_OPENSSL)
#include <openssl/err.h>
#include <openssl/ssl.h>
int main(int argc, char** argv) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  if (SSL_CTX_load_verify_locations(ctx, argv[1], NULL) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  SSL* s = SSL_new(ctx);
  SSL_set_fd(s, tcp(atoi(argv[2])));
  SSL_set_tlsext_host_name(s, "localhost");
  SSL_set1_host(s, "localhost");
  if (SSL_connect(s) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  SSL_write(s, req, sizeof req - 1);
  char buf[256];
  int n = SSL_read(s, buf, sizeof buf - 1);
  if (n > 0) {
    buf[n] = 0;
    printf("%.40s\n", buf);
  }
  fflush(stdout);
  pause();
  return 0;
}
#elif defined(USE_MBEDTLS)
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
int main(int argc, char** argv) {
  mbedtls_net_context net;
  mbedtls_ssl_context ssl;
  mbedtls_ssl_config conf;
  mbedtls_x509_crt ca;
  mbedtls_entropy_context ent;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_net_init(&net);
  mbedtls_ssl_init(&ssl);
  mbedtls_ssl_config_init(&conf);
  mbedtls_x509_crt_init(&ca);
  mbedtls_entropy_init(&ent);
  mbedtls_ctr_drbg_init(&drbg);
  if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0)) return 1;
  if (mbedtls_x509_crt_parse_file(&ca, argv[1])) {
    fprintf(stderr, "ca\n");
    return 1;
  }
  mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                              MBEDTLS_SSL_PRESET_DEFAULT);
  mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
  mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
  mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
  mbedtls_ssl_setup(&ssl, &conf);
  mbedtls_ssl_set_hostname(&ssl, "localhost");
  net.fd = tcp(atoi(argv[2]));
  mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
  int r;
  while ((r = mbedtls_ssl_handshake(&ssl)) != 0) {
    if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE) {
      fprintf(stderr, "handshake -0x%x\n", -r);
      return 1;
    }
  }
  mbedtls_ssl_write(&ssl, (const unsigned char*)req, sizeof req - 1);
  unsigned char buf[256];
  int n = mbedtls_ssl_read(&ssl, buf, sizeof buf - 1);
  if (n > 0) {
    buf[n] = 0;
    printf("%.40s\n", buf);
  }
  fflush(stdout);
  pause();
  return 0;
}
#elif defined(USE_WOLFSSL)
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
int main(int argc, char** argv) {
  wolfSSL_Init();
  WOLFSSL_CTX* ctx = wolfSSL_CTX_new(wolfTLS_client_method());
  if (wolfSSL_CTX_load_verify_locations(ctx, argv[1], NULL) != WOLFSSL_SUCCESS) {
    fprintf(stderr, "ca\n");
    return 1;
  }
  WOLFSSL* s = wolfSSL_new(ctx);
  wolfSSL_set_fd(s, tcp(atoi(argv[2])));
  wolfSSL_UseSNI(s, WOLFSSL_SNI_HOST_NAME, "localhost", 9);
  wolfSSL_check_domain_name(s, "localhost");
  if (wolfSSL_connect(s) != WOLFSSL_SUCCESS) {
    fprintf(stderr, "connect %d\n", wolfSSL_get_error(s, 0));
    return 1;
  }
  wolfSSL_write(s, req, sizeof req - 1);
  char buf[256];
  int n = wolfSSL_read(s, buf, sizeof buf - 1);
  if (n > 0) {
    buf[n] = 0;
    printf("%.40s\n", buf);
  }
  fflush(stdout);
  pause();
  return 0;
}
#elif defined(USE_BEARSSL)
#include <bearssl.h>
// BearSSL ships no PEM-to-trust-anchor helper in the library: decode the CA file's first
// certificate and keep its subject and public key as the one anchor.
static unsigned char dn_buf[1024];
static size_t dn_len;
static void dn_append(void* ctx, const void* data, size_t len) {
  (void)ctx;
  if (dn_len + len <= sizeof dn_buf) memcpy(dn_buf + dn_len, data, len);
  dn_len += len;
}
static unsigned char der[8192];
static size_t der_len;
static void der_append(void* ctx, const void* data, size_t len) {
  (void)ctx;
  if (der_len + len <= sizeof der) memcpy(der + der_len, data, len);
  der_len += len;
}
static int sock_read(void* ctx, unsigned char* buf, size_t len) {
  ssize_t n = read(*(int*)ctx, buf, len);
  return n <= 0 ? -1 : (int)n;
}
static int sock_write(void* ctx, const unsigned char* buf, size_t len) {
  ssize_t n = write(*(int*)ctx, buf, len);
  return n <= 0 ? -1 : (int)n;
}
int main(int argc, char** argv) {
  static char pem[16384];
  FILE* f = fopen(argv[1], "r");
  size_t pem_len = f ? fread(pem, 1, sizeof pem, f) : 0;
  br_pem_decoder_context pc;
  br_pem_decoder_init(&pc);
  size_t off = 0;
  int in_cert = 0, have = 0;
  while (off < pem_len && !have) {
    off += br_pem_decoder_push(&pc, pem + off, pem_len - off);
    switch (br_pem_decoder_event(&pc)) {
      case BR_PEM_BEGIN_OBJ:
        in_cert = strcmp(br_pem_decoder_name(&pc), "CERTIFICATE") == 0;
        br_pem_decoder_setdest(&pc, in_cert ? der_append : NULL, NULL);
        break;
      case BR_PEM_END_OBJ:
        have = in_cert;
        break;
      case BR_PEM_ERROR:
        fprintf(stderr, "ca\n");
        return 1;
    }
  }
  br_x509_decoder_context dc;
  br_x509_decoder_init(&dc, dn_append, NULL);
  br_x509_decoder_push(&dc, der, der_len);
  br_x509_pkey* pk = br_x509_decoder_get_pkey(&dc);
  if (!have || pk == NULL) {
    fprintf(stderr, "ca\n");
    return 1;
  }
  br_x509_trust_anchor ta = {{dn_buf, dn_len}, BR_X509_TA_CA, *pk};
  static br_ssl_client_context cc;
  static br_x509_minimal_context xc;
  static unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
  br_ssl_client_init_full(&cc, &xc, &ta, 1);
  br_ssl_engine_set_buffer(&cc.eng, iobuf, sizeof iobuf, 1);
  br_ssl_client_reset(&cc, "localhost", 0);
  int fd = tcp(atoi(argv[2]));
  br_sslio_context ioc;
  br_sslio_init(&ioc, &cc.eng, sock_read, &fd, sock_write, &fd);
  br_sslio_write_all(&ioc, req, sizeof req - 1);
  br_sslio_flush(&ioc);
  unsigned char buf[256];
  int n = br_sslio_read(&ioc, buf, sizeof buf - 1);
  if (n <= 0) {
    fprintf(stderr, "handshake %d\n", br_ssl_engine_last_error(&cc.eng));
    return 1;
  }
  buf[n] = 0;
  printf("%.40s\n", buf);
  fflush(stdout);
  pause();
  return 0;
}
#else
int main(int argc, char** argv) {
  (void)argc;
  int fd = tcp(atoi(argv[2]));
  write(fd, req, sizeof req - 1);
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n > 0) {
    buf[n] = 0;
    printf("%.40s\n", buf);
  }
  fflush(stdout);
  pause();
  return 0;
}
#endif
