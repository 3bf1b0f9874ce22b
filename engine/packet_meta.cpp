#include "engine/packet_meta.h"

#include <cerrno>

#include <rte_errno.h>

namespace linecap {

int packet_meta_offset = -1;

int register_packet_meta()
{
    static const rte_mbuf_dynfield desc = {
        "linecap_packet_meta", sizeof(packet_meta), alignof(packet_meta), 0,
    };
    int offset = rte_mbuf_dynfield_register(&desc);
    if (offset < 0)
        return -rte_errno;
    packet_meta_offset = offset;
    return 0;
}

} // namespace linecap
