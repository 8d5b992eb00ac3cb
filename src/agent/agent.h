/*
 * agent.h — a client of the QEMU guest agent (qemu-ga) protocol: JSON
 * commands over the unix socket a VM's QEMU exposes as the chardev of its
 * org.qemu.guest_agent.0 virtio-serial port.
 *
 * A connection is synchronised on open (guest-sync-delimited: the 0xFF it
 * sends makes the agent drop any half-read command, and its reply, preceded
 * by 0xFF, is found among stale replies and garbage by its random id), so a
 * reply read afterwards is the reply to the command just sent.  After a
 * timeout or a reply that is not JSON the connection is broken: every later
 * call fails with -EPIPE and the caller opens a new one.
 *
 * Every call takes its own timeout in milliseconds and never blocks longer.
 * Errors: 0 or -errno; -ENOENT/-ECONNREFUSED no agent socket (or nobody
 * listening), -ETIMEDOUT no (complete) answer in time, -EPROTO an answer that
 * is not the protocol's, -EREMOTEIO the agent answered with an error,
 * -EPIPE/-ECONNRESET the connection is gone.  agent_error() tells the last
 * failure in words (the agent's own description for -EREMOTEIO).
 * Threads: one thread at a time per connection.
 */
#pragma once
#include <stdbool.h>

struct agent;

/* Connects to socket_path and synchronises. */
int agent_open(const char *socket_path, int timeout_ms, struct agent **out);
void agent_close(struct agent *a);
/* The last failure of a, in words ("" when none). */
const char *agent_error(const struct agent *a);

int agent_ping(struct agent *a, int timeout_ms);

struct agent_info {
  char version[64];  /* qemu-ga's version */
  bool can_freeze;   /* guest-fsfreeze-freeze is supported and enabled */
};
int agent_info(struct agent *a, int timeout_ms, struct agent_info *out);

/* *frozen: the guest's file systems are frozen. */
int agent_fsfreeze_status(struct agent *a, int timeout_ms, bool *frozen);
/* Freezes every freezable file system (running the guest's fsfreeze hook
 * first); *count: how many were frozen. */
int agent_fsfreeze_freeze(struct agent *a, int timeout_ms, int *count);
/* Thaws them (the hook runs after); *count: how many were thawed. */
int agent_fsfreeze_thaw(struct agent *a, int timeout_ms, int *count);
