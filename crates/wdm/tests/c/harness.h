/*
 * A small harness for the C tests of iospace's wdm.h: checks that count instead of stopping,
 * a closing line the Rust runner reads, and EXPECT_BUG_CHECK, which catches a bug check through
 * the callback (longjmp) and records its code and parameters.
 */
#ifndef IOSPACE_TEST_HARNESS_H
#define IOSPACE_TEST_HARNESS_H

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include "iospace.h"

static int harness_passed;
static int harness_failed;

#define CHECK(condition)                                                                           \
    do {                                                                                           \
        if (condition) {                                                                           \
            harness_passed++;                                                                      \
        } else {                                                                                   \
            harness_failed++;                                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition);          \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(actual, expected)                                                                 \
    do {                                                                                           \
        unsigned long long actual_ = (unsigned long long)(actual);                                 \
        unsigned long long expected_ = (unsigned long long)(expected);                             \
        if (actual_ == expected_) {                                                                \
            harness_passed++;                                                                      \
        } else {                                                                                   \
            harness_failed++;                                                                      \
            fprintf(stderr, "%s:%d: %s is %#llx, expected %s = %#llx\n", __FILE__, __LINE__,       \
                    #actual, actual_, #expected, expected_);                                       \
        }                                                                                          \
    } while (0)

/* The closing line: "N passed, N failed", and the exit status. */
static inline int harness_finish(void) {
    printf("%d passed, %d failed\n", harness_passed, harness_failed);
    return harness_failed == 0 ? 0 : 1;
}

/* The last bug check the callback caught. */
typedef struct {
    ULONG Code;
    ULONG_PTR P[4];
} CAUGHT_BUG_CHECK;

static jmp_buf harness_jump;
static volatile int harness_expecting;
static CAUGHT_BUG_CHECK harness_caught;

static inline VOID harness_callback(ULONG Code, ULONG_PTR P1, ULONG_PTR P2, ULONG_PTR P3, ULONG_PTR P4) {
    if (!harness_expecting) {
        /* Unexpected: return, so the STOP line is printed and the process exits with 1. */
        return;
    }
    harness_expecting = 0;
    harness_caught.Code = Code;
    harness_caught.P[0] = P1;
    harness_caught.P[1] = P2;
    harness_caught.P[2] = P3;
    harness_caught.P[3] = P4;
    longjmp(harness_jump, 1);
}

/* Boots the default machine with the harness's callback installed; exits on failure. */
static inline void harness_boot(void) {
    IospSetBugCheckCallback(harness_callback);
    NTSTATUS status = IospBoot(NULL);
    if (!NT_SUCCESS(status)) {
        fprintf(stderr, "IospBoot failed: %#x\n", (unsigned)status);
        exit(2);
    }
}

static volatile int harness_raised;
static inline void harness_recover(void);

/* Runs Statement, which must raise a bug check. Afterwards harness_raised says whether one was
 * raised, harness_caught holds it, and the machine has been shut down and booted again, as the
 * contract asks after a callback jumps away. Variables Statement assigns are indeterminate
 * after a jump unless volatile. */
#define EXPECT_BUG_CHECK(Statement)                                                                \
    do {                                                                                           \
        harness_expecting = 1;                                                                     \
        harness_raised = 0;                                                                        \
        if (setjmp(harness_jump) == 0) {                                                           \
            Statement;                                                                             \
            harness_expecting = 0;                                                                 \
        } else {                                                                                   \
            harness_raised = 1;                                                                    \
            harness_recover();                                                                     \
        }                                                                                          \
    } while (0)

/* Checks that the last EXPECT_BUG_CHECK caught ExpectedCode with parameters E1..E4. */
#define CHECK_BUG_CHECK(ExpectedCode, E1, E2, E3, E4)                                              \
    do {                                                                                           \
        CHECK(harness_raised);                                                                     \
        CHECK_EQ(harness_caught.Code, (ExpectedCode));                                             \
        CHECK_EQ(harness_caught.P[0], (E1));                                                       \
        CHECK_EQ(harness_caught.P[1], (E2));                                                       \
        CHECK_EQ(harness_caught.P[2], (E3));                                                       \
        CHECK_EQ(harness_caught.P[3], (E4));                                                       \
    } while (0)

static inline void harness_recover(void) {
    IospShutdown();
    harness_boot();
}

#endif /* IOSPACE_TEST_HARNESS_H */
