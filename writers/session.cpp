#include "writers/session.h"

namespace linecap {

std::string_view stop_reason_name(stop_reason reason)
{
    switch (reason) {
    case stop_reason::none: return "running";
    case stop_reason::user: return "user";
    case stop_reason::packets: return "packets";
    case stop_reason::bytes: return "bytes";
    case stop_reason::duration: return "duration";
    case stop_reason::idle: return "idle";
    case stop_reason::disk_full: return "disk_full";
    case stop_reason::error: return "error";
    case stop_reason::shutdown: return "shutdown";
    case stop_reason::end_of_file: return "end_of_file";
    }
    return "?";
}

} // namespace linecap
