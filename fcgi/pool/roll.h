/*
 * roll.h -- a reload (SIGHUP): the configuration read again, and the
 * workers rolled to a new generation one by one (roll.c).
 */
#ifndef OPTIMIST_ROLL_H
#define OPTIMIST_ROLL_H

/* SIGHUP in NORMAL: reads the configuration again (keeping the old one if
 * it is invalid, as PgBouncer does) and starts rolling the workers -- even
 * on a failed read, so that a reload always yields fresh workers. */
void begin_reload(long long now);

/* Advances the roll as far as it can go now (state RELOADING). */
void roll_step(long long now);

#endif
