/*
 * faultsim.h -- a fault simulator for the calls lib/ makes into
 * libmysqlclient, as SQLite's is for malloc: arm it with N and the Nth
 * wrapped call from then on fails, by breaking the connection for real.
 *
 * Linked with -Wl,--wrap=mysql_real_connect,--wrap=mysql_real_query,
 * --wrap=mysql_stmt_prepare,--wrap=mysql_stmt_execute,
 * --wrap=mysql_stmt_store_result (the Makefile's FAULT_WRAP), so that
 * lib/'s own references reach the wrappers and nothing in lib/ changes.
 */
#ifndef OPTIMIST_FAULTSIM_H
#define OPTIMIST_FAULTSIM_H

typedef enum fs_mode {
    /* The connection breaks before the call reaches the server: the
     * statement never ran (the server rolls back an open transaction). */
    FS_BEFORE = 0,
    /* The call runs on the server, then the connection breaks before
     * the answer is read: the statement ran (in autocommit: committed),
     * the caller sees a lost connection. The dangerous one for "never
     * twice". For calls that send nothing (store_result) it is BEFORE. */
    FS_AFTER
} fs_mode;

/* Arms the simulator: the nth wrapped call from now (1-based) fails in
 * `mode`; n = 0 disarms it. Clears the record of what fired. */
void faultsim_arm(long n, fs_mode mode);

/* 1 if the armed fault fired since faultsim_arm. */
int faultsim_fired(void);

/* The wrapped function that failed ("" if none fired). */
const char *faultsim_site(void);

/* Wrapped calls since the last faultsim_arm. */
long faultsim_calls(void);

#endif
