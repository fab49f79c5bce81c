#!/usr/bin/env bash
# Reports what on this host limits kmirror: io_uring availability, socket
# buffer caps, congestion control, CPUs. Read-only.
set -u
echo "kernel: $(uname -r)"
if [[ -r /proc/sys/kernel/io_uring_disabled ]]; then
    v=$(cat /proc/sys/kernel/io_uring_disabled)
    [[ $v == 0 ]] && echo "io_uring: enabled" || echo "io_uring: disabled ($v): kmirror will use epoll"
else
    echo "io_uring: no kernel.io_uring_disabled knob (kernel < 6.6); availability is probed at start"
fi
for k in net.core.rmem_max net.core.wmem_max net.ipv4.tcp_congestion_control net.ipv4.tcp_available_congestion_control net.ipv4.tcp_slow_start_after_idle; do
    printf '%s = %s\n' "$k" "$(sysctl -n "$k" 2>/dev/null || echo '?')"
done
rmem=$(sysctl -n net.core.rmem_max 2>/dev/null || echo 0)
if (( rmem < 16777216 )); then
    echo "warning: net.core.rmem_max is below 16 MiB; large receive buffers for WAN fetches will be capped (see 90-kmirror.conf)"
fi
echo "CPUs this process may use: $(grep Cpus_allowed_list /proc/self/status | awk '{print $2}')"
