/* Pool tags as Windows drivers write them ('Tag1' multi-character constants), without the
 * compiler's multi-character warning: the first letter is the lowest byte. */
#ifndef IOSPACE_TEST_TAGS_H
#define IOSPACE_TEST_TAGS_H

#define POOL_TAG(a, b, c, d) ((ULONG)(a) | ((ULONG)(b) << 8) | ((ULONG)(c) << 16) | ((ULONG)(d) << 24))
#define TEST_TAG POOL_TAG('w', 'd', 'm', 'T')
#define OTHER_TAG POOL_TAG('w', 'd', 'm', 'O')

/* The default machine's edu device: BAR0 at this bus (= CPU) address, 1 MiB. */
#define EDU_BAR0 0xFEA00000ULL
#define EDU_BAR0_BYTES 0x100000
#define EDU_ID 0x010000ed

#endif
