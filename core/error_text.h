// An errno value as a message says it. Some failures leave no errno behind
// (DPDK's rte_eal_init and several rte_* calls leave rte_errno 0 on some
// paths): strerror(0) would print "Success" in an error, so 0 reads as
// what the caller passes instead.
#pragma once

#include <cstring>
#include <string>
#include <string_view>

#include <rte_errno.h>

namespace linecap {

// strerror(err), or `unknown` when err is 0.
inline std::string error_text(int err, std::string_view unknown = "no reason given")
{
    return err == 0 ? std::string(unknown) : std::string(std::strerror(err < 0 ? -err : err));
}

// rte_strerror(err) (which also knows DPDK's own codes), or `unknown` when err is 0.
inline std::string rte_error_text(int err, std::string_view unknown = "no reason given")
{
    return err == 0 ? std::string(unknown) : std::string(rte_strerror(err < 0 ? -err : err));
}

} // namespace linecap
