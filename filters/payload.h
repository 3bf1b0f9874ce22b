// Payload patterns: regular expressions in Hyperscan's syntax, compiled once
// per session into a vectored database (so a payload spread over several
// mbuf segments is scanned in place), scanned with a scratch space per worker.
#pragma once

#include <string>
#include <vector>

#include <hs/hs.h>
#include <rte_mbuf.h>

#include "core/spec.h"

namespace linecap {

class payload_scanner {
public:
    payload_scanner() = default;
    ~payload_scanner();
    payload_scanner(const payload_scanner&) = delete;
    payload_scanner& operator=(const payload_scanner&) = delete;

    // Compiles the patterns. Returns an empty string, or Hyperscan's message
    // with the pattern named: "payload.patterns[1]: \"(ab\": Missing close parenthesis".
    std::string compile(const payload_match& payload);

    // Grows `scratch` (allocating it if null) to serve this database.
    bool reserve_scratch(hs_scratch_t*& scratch) const;

    // Does any pattern match the packet's bytes from `offset` up to `end`
    // (packet_fields::payload_end: where the headers say the payload ends),
    // or to the packet's end if it comes sooner?
    bool matches(const rte_mbuf* m, uint32_t offset, uint32_t end, hs_scratch_t* scratch) const;

private:
    hs_database_t* _db = nullptr;
};

} // namespace linecap
