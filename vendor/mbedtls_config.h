/*
 * seedsec's own Mbed TLS 3.6 configuration (replaces include/mbedtls/mbedtls_config.h).
 *
 * Only what seedsec uses: a CTR_DRBG for every generated value, RSA-OAEP + AES-256-GCM
 * for SealedSecrets, RS256 JWTs for Google service accounts, and an HTTPS *client*
 * (TLS 1.2 and 1.3, ECDHE + AES-GCM, certificate verification) for Google Secret
 * Manager. No server side, no DTLS, no debug, no legacy ciphers. Everything not
 * defined here is off; the binary must stay under 400 KB stripped.
 *
 * vendor/build.sh installs this file as include/mbedtls/mbedtls_config.h next to the
 * library, so the library and seedsec.c always see the same configuration.
 */
#ifndef SEEDSEC_MBEDTLS_CONFIG_H
#define SEEDSEC_MBEDTLS_CONFIG_H

/* ---- System support ---------------------------------------------------- */

/* Inline assembly for bignum multiply: RSA-2048/4096 is the hot path. */
#define MBEDTLS_HAVE_ASM
/* Certificate validity checks and TLS need the wall clock (time(), gmtime_r()). */
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE
/* Reading CA bundles and directories (mbedtls_x509_crt_parse_file/_path) and keys. */
#define MBEDTLS_FS_IO
/* Keep only the current API: catches use of deprecated calls at compile time. */
#define MBEDTLS_DEPRECATED_REMOVED

/* ---- Randomness ----------------------------------------------------------- */

/* Platform entropy source (getrandom(2), else /dev/urandom) feeding CTR_DRBG. */
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_CTR_DRBG_C

/* ---- Hashes and MACs ------------------------------------------------------ */

/* SHA-256: JWT RS256, OAEP/MGF1, TLS PRF/HKDF, cert signatures. */
#define MBEDTLS_SHA224_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA256_SMALLER  /* smaller code; speed is irrelevant here */
/* SHA-384: TLS_*_AES_256_GCM_SHA384 suites, ecdsa-with-SHA384 chains; the entropy
 * pool also prefers SHA-512. */
#define MBEDTLS_SHA384_C
#define MBEDTLS_SHA512_C
#define MBEDTLS_SHA512_SMALLER
/* Generic message digest layer: HMAC, OAEP, PK signatures. SHA-1 stays out: no
 * chain seedsec talks to is signed with it. */
#define MBEDTLS_MD_C
/* TLS 1.3 key schedule (HKDF-Extract/Expand via PSA). */
#define MBEDTLS_HKDF_C

/* ---- Symmetric ciphers ---------------------------------------------------- */

/* AES-256-GCM for sealing and for TLS record protection. */
#define MBEDTLS_AES_C
#define MBEDTLS_AES_FEWER_TABLES  /* 2 KiB of tables instead of 8 KiB */
#define MBEDTLS_GCM_C
#define MBEDTLS_CIPHER_C

/* ---- Public key ----------------------------------------------------------- */

#define MBEDTLS_BIGNUM_C
/* RSA: JWT signing (PKCS#1 v1.5), sealing (OAEP = PKCS#1 v2.1), server certs
 * (v1.5 in TLS 1.2, PSS in TLS 1.3). No key generation (GENPRIME). */
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21
/* ECDHE key exchange and ECDSA server certificates on the curves Google serves. */
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM       /* fast reduction: a little code, much faster */
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 0  /* no precomputed comb tables in the binary */
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
/* Key containers: PKCS#8 private keys (service-account JSON) and
 * SubjectPublicKeyInfo (mbedtls_pk_parse_subpubkey for the sealing certificate). */
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C

/* ---- Encodings ------------------------------------------------------------ */

#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C   /* ECDSA signature encoding, PSA key export */
#define MBEDTLS_OID_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_PEM_PARSE_C

/* ---- X.509 ---------------------------------------------------------------- */

#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
/* RSA-PSS signatures. Without it Mbed TLS does not offer rsa_pss_rsae_* in
 * signature_algorithms, and a TLS 1.3 server with an RSA certificate (which must
 * sign with PSS) aborts the handshake: "no suitable signature algorithm". */
#define MBEDTLS_X509_RSASSA_PSS_SUPPORT

/* ---- PSA Crypto: required by TLS 1.3 in 3.6 ------------------------------- */

/* The PSA algorithm set is derived from the legacy options above (no
 * MBEDTLS_PSA_CRYPTO_CONFIG). No persistent key storage. Applications must call
 * psa_crypto_init() before the first TLS handshake. */
#define MBEDTLS_PSA_CRYPTO_C

/* ---- TLS client ----------------------------------------------------------- */

#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_TLS1_3
/* TLS 1.2 suites Google front ends offer: ECDHE with ECDSA or RSA certs, AES-GCM. */
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
/* TLS 1.3: (EC)DHE full handshakes only; no PSK or resumption. */
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
/* Look like TLS 1.2 on the wire, so middleboxes do not drop TLS 1.3 handshakes. */
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE
/* TLS 1.3 in 3.6 keeps the whole peer chain (check_config.h requires it);
 * it also serves a verify callback. */
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE
/* Virtual-hosted front ends need the host name in the ClientHello. */
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
/* RFC 7627 for TLS 1.2 sessions: binds the master secret to the handshake. */
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
/* Tell the server why a handshake was aborted (e.g. bad_certificate). */
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES
/* Sockets (getaddrinfo/connect/poll) and read timeouts. */
#define MBEDTLS_NET_C
#define MBEDTLS_TIMING_C

/* ---- Utilities ------------------------------------------------------------ */

/* mbedtls_strerror(): every failure message names the Mbed TLS reason. */
#define MBEDTLS_ERROR_C
/* Platform abstraction (calloc/free/exit hooks); plain libc underneath. */
#define MBEDTLS_PLATFORM_C

#endif /* SEEDSEC_MBEDTLS_CONFIG_H */
