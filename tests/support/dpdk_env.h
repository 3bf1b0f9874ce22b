// The unit tests run on real DPDK: EAL without hugepages or PCI, a real
// mempool, real mbufs. unit_main.cpp sets it up once for all tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <rte_mbuf.h>
#include <rte_mempool.h>

namespace linecap::test {

rte_mempool* mbuf_pool();

// An mbuf chain holding `bytes`, split into segments of at most `segment` bytes.
rte_mbuf* make_chain(const std::vector<uint8_t>& bytes, uint16_t segment);

// A fresh empty folder under the system temp folder, removed at exit.
std::string temp_dir();

} // namespace linecap::test
