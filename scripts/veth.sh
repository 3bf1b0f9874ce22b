# A veth pair inside a network namespace of our own, for the demo and tests.
#
#   veth_up NAME      creates namespace NAME with veth-tx <-> veth-rx, both up,
#                     IPv6 off (so the kernel sends nothing of its own on them)
#   veth_down NAME    deletes the namespace and with it the pair
#
# Traffic replayed into veth-tx (tcpreplay) arrives on veth-rx, where linecap
# reads it through DPDK's net_af_packet PMD: run both with `ip netns exec NAME`.

veth_up() {
    local ns=$1
    ip netns add "$ns"
    ip -n "$ns" link add veth-tx type veth peer name veth-rx
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1 \
        net.ipv6.conf.veth-tx.disable_ipv6=1 net.ipv6.conf.veth-rx.disable_ipv6=1
    ip -n "$ns" link set veth-tx up
    ip -n "$ns" link set veth-rx up
}

veth_down() {
    ip netns del "$1" 2>/dev/null || true
}
