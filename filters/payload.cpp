#include "filters/payload.h"

#include <algorithm>

#include <fmt/format.h>

namespace linecap {

namespace {

// A payload in more segments than this is scanned in its first ones only:
// 64 segments of 2 KiB hold any frame DPDK can receive, 128 the largest
// record linecap -r reads (256 KiB, engine/file_port.h).
constexpr unsigned max_segments = 128;

int stop_at_first_match(unsigned, unsigned long long, unsigned long long, unsigned, void*)
{
    return 1;   // non-zero: stop scanning, hs_scan_vector returns HS_SCAN_TERMINATED
}

} // namespace

payload_scanner::~payload_scanner()
{
    hs_free_database(_db);
}

std::string payload_scanner::compile(const payload_match& payload)
{
    std::vector<const char*> expressions;
    std::vector<unsigned> flags;
    std::vector<unsigned> ids;
    for (size_t i = 0; i < payload.patterns.size(); i++) {
        expressions.push_back(payload.patterns[i].c_str());
        flags.push_back(HS_FLAG_SINGLEMATCH | (payload.caseless ? HS_FLAG_CASELESS : 0));
        ids.push_back(static_cast<unsigned>(i));
    }
    hs_compile_error_t* error = nullptr;
    if (hs_compile_multi(expressions.data(), flags.data(), ids.data(), static_cast<unsigned>(expressions.size()),
                         HS_MODE_VECTORED, nullptr, &_db, &error) != HS_SUCCESS) {
        std::string message;
        if (error != nullptr && error->expression >= 0)
            message = fmt::format("payload.patterns[{}]: \"{}\": {}", error->expression,
                                  payload.patterns[static_cast<size_t>(error->expression)], error->message);
        else
            message = fmt::format("payload.patterns: {}", error ? error->message : "cannot compile");
        hs_free_compile_error(error);
        return message;
    }
    return {};
}

bool payload_scanner::reserve_scratch(hs_scratch_t*& scratch) const
{
    return hs_alloc_scratch(_db, &scratch) == HS_SUCCESS;
}

bool payload_scanner::matches(const rte_mbuf* m, uint32_t offset, uint32_t end, hs_scratch_t* scratch) const
{
    const char* data[max_segments];
    unsigned lengths[max_segments];
    unsigned count = 0;
    if (end <= offset)
        return false;   // nothing after the headers
    uint32_t left = end - offset;   // bytes of payload, if the packet has them
    for (const rte_mbuf* seg = m; seg != nullptr && count < max_segments && left > 0; seg = seg->next) {
        if (offset >= seg->data_len) {
            offset -= seg->data_len;
            continue;
        }
        data[count] = rte_pktmbuf_mtod_offset(seg, const char*, offset);
        lengths[count] = std::min<uint32_t>(seg->data_len - offset, left);
        left -= lengths[count];
        offset = 0;
        count++;
    }
    if (count == 0)
        return false;   // nothing after the headers
    return hs_scan_vector(_db, data, lengths, count, 0, scratch, stop_at_first_match, nullptr) ==
           HS_SCAN_TERMINATED;
}

} // namespace linecap
