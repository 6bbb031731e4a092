/* pushpull-client --merge FILE... --json OUT: the result documents of
 * several client processes (on one host or several) merged into one, as if
 * one client had run them all: histograms bucket by bucket, counts summed,
 * every derived figure computed again by report.c from the merged numbers.
 * docs/CLIENT-OUTPUT.md ("Merging results") says how each field merges. */
#ifndef PUSHPULL_MERGE_H
#define PUSHPULL_MERGE_H

#include <stdbool.h>

/* Does argv ask for a merge (its first argument is --merge)? */
bool merge_requested(int argc, char **argv);
/* The whole merge mode; returns the exit status (2: usage, 1: a bad file). */
int merge_main(int argc, char **argv);

#endif
