/*
 * test_sha256.c -- SHA-256 (FIPS 180-4) and the constant-time compare, as
 * linked from libcrypto.
 *
 * The FIPS 180-2 example messages, then lengths around the padding edges
 * (55/56: the length still fits the last block or not; 63/64/65: block
 * boundaries; 119/120 and 127/128 the same one block later). The expected
 * digests come from coreutils' sha256sum, e.g.
 *     head -c 55 /dev/zero | tr '\0' a | sha256sum
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

/* The token hashes and idempotency fingerprints are libcrypto's SHA256()
 * and CRYPTO_memcmp() (lib/tenant.c, fcgi/http/auth.c,
 * fcgi/routes/idempotency.c): these known answers pin what the stored hashes
 * depend on. */
#define SHA256_LEN SHA256_DIGEST_LENGTH
static void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
    SHA256(data, len, out);
}
static int ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

static void hex(const uint8_t d[SHA256_LEN], char out[2 * SHA256_LEN + 1])
{
    for (int i = 0; i < SHA256_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void assert_digest(const void *data, size_t len, const char *want)
{
    uint8_t d[SHA256_LEN];
    char h[2 * SHA256_LEN + 1];
    memset(d, 0xEE, sizeof d);
    sha256(data, len, d);
    hex(d, h);
    if (strcmp(h, want) != 0)
        fail_msg("length %zu: got %s, want %s", len, h, want);
}

/* `len` copies of byte c, hashed. */
static void assert_repeat(int c, size_t len, const char *want)
{
    char *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    memset(buf, c, len);
    assert_digest(buf, len, want);
    free(buf);
}

/* ---- FIPS 180-2 examples ---------------------------------------------------
 */

static void test_fips_empty(void **state)
{
    (void)state;
    assert_digest("", 0,
                  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"
                  "7852b855");
    assert_digest(NULL, 0,
                  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"
                  "7852b855");
}

static void test_fips_abc(void **state)
{
    (void)state;
    assert_digest("abc", 3,
                  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61"
                  "f20015ad");
}

static void test_fips_448_bits(void **state)
{
    (void)state;
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_int_equal(strlen(m), 56);
    assert_digest(m, 56,
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd4"
                  "19db06c1");
}

static void test_fips_896_bits(void **state)
{
    (void)state;
    const char *m = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                    "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    assert_int_equal(strlen(m), 112);
    assert_digest(m, 112,
                  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac4503"
                  "7afee9d1");
}

static void test_fips_million_a(void **state)
{
    (void)state;
    assert_repeat('a', 1000000,
                  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39cc"
                  "c7112cd0");
}

/* ---- padding edges
 * ----------------------------------------------------------- */

static void test_padding_edges(void **state)
{
    (void)state;
    static const struct {
        size_t len;
        const char *digest;
    } cases[] = {
        {1, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"},
        {55,
         "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56,
         "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {57,
         "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6"},
        {63,
         "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64,
         "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65,
         "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119,
         "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120,
         "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
        {127,
         "c57e9278af78fa3cab38667bef4ce29d783787a2f731d4e12200270f0c32320a"},
        {128,
         "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_repeat('a', cases[i].len, cases[i].digest);
}

/* Every byte value, and zero bytes (no C-string assumptions). */
static void test_binary_input(void **state)
{
    (void)state;
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    assert_digest(all, sizeof all,
                  "40aff2e9d2d8922e47afd4648e6967497158785fbd1da870e7110266"
                  "bf944880");
    assert_repeat(0, 256,
                  "5341e6b2646979a70e57653007a1f310169421ec9bdd9f1a5648f75a"
                  "de005af1");
}

/* The input need not be aligned, and is not modified. */
static void test_unaligned_and_const(void **state)
{
    (void)state;
    char buf[8 + 56 + 1];
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    for (size_t off = 0; off < 8; off++) {
        memcpy(buf + off, m, 57);
        assert_digest(buf + off, 56,
                      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ec"
                      "edd419db06c1");
        assert_memory_equal(buf + off, m, 57);
    }
}

/* A token-sized input hashed twice gives the same digest; one bit less
 * gives another. */
static void test_deterministic(void **state)
{
    (void)state;
    const char *tok = "opt_0123456789abcdef0123456789abcdef0123456789abcdef";
    uint8_t a[SHA256_LEN], b[SHA256_LEN];
    sha256(tok, strlen(tok), a);
    sha256(tok, strlen(tok), b);
    assert_memory_equal(a, b, SHA256_LEN);
    char alt[64];
    strcpy(alt, tok);
    alt[10] ^= 1;
    sha256(alt, strlen(alt), b);
    assert_memory_not_equal(a, b, SHA256_LEN);
}

/* ---- ct_equal --------------------------------------------------------------
 */

static void test_ct_equal(void **state)
{
    (void)state;
    uint8_t a[SHA256_LEN], b[SHA256_LEN];
    for (int i = 0; i < SHA256_LEN; i++)
        a[i] = b[i] = (uint8_t)(i * 37 + 5);
    assert_int_equal(ct_equal(a, b, sizeof a), 1);
    assert_int_equal(ct_equal(a, a, sizeof a), 1);
    assert_int_equal(ct_equal(a, b, 0), 1);
    assert_int_equal(ct_equal(NULL, NULL, 0), 1);

    /* one bit differs, anywhere */
    for (int i = 0; i < SHA256_LEN; i++)
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (uint8_t)(1u << bit);
            if (ct_equal(a, b, sizeof a) != 0)
                fail_msg("byte %d bit %d: still equal", i, bit);
            /* a prefix before the difference still compares equal */
            assert_int_equal(ct_equal(a, b, (size_t)i), 1);
            b[i] ^= (uint8_t)(1u << bit);
        }
    assert_int_equal(ct_equal(a, b, sizeof a), 1);

    /* every byte differs */
    for (int i = 0; i < SHA256_LEN; i++)
        b[i] = (uint8_t)~a[i];
    assert_int_equal(ct_equal(a, b, sizeof a), 0);

    /* exactly 1, not just non-zero */
    assert_int_equal(ct_equal("x", "x", 1), 1);
    assert_int_equal(ct_equal("x", "y", 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fips_empty),
        cmocka_unit_test(test_fips_abc),
        cmocka_unit_test(test_fips_448_bits),
        cmocka_unit_test(test_fips_896_bits),
        cmocka_unit_test(test_fips_million_a),
        cmocka_unit_test(test_padding_edges),
        cmocka_unit_test(test_binary_input),
        cmocka_unit_test(test_unaligned_and_const),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_ct_equal),
    };
    return cmocka_run_group_tests_name("sha256", tests, NULL, NULL);
}
