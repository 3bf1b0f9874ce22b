#include "control/session_options.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <cmath>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace linecap {

namespace {

using nlohmann::json;

constexpr std::string_view rule_prefix = "match[].";

// A word as JSON: a number when all of it reads as one (so the validator
// sees 70000 as the number it is), else the string, which the validator
// refuses with the value shown.
json number_or_word(const std::string& word)
{
    const auto whole = [&](auto value) -> std::optional<decltype(value)> {
        const auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), value);
        if (word.empty() || ec != std::errc() || end != word.data() + word.size())
            return std::nullopt;
        return value;
    };
    if (const auto u = whole(uint64_t{0}))
        return *u;
    if (const auto i = whole(int64_t{0}))
        return *i;
    if (const auto d = whole(0.0); d && std::isfinite(*d))
        return *d;
    return word;
}

// The long name of "-s,--snaplen".
std::string long_name(std::string_view flags)
{
    const auto comma = flags.rfind(',');
    return std::string(comma == std::string_view::npos ? flags : flags.substr(comma + 1));
}

json::json_pointer pointer(std::string_view dotted)
{
    std::string p;
    for (char c : dotted)
        p += c == '.' ? '/' : c;
    return json::json_pointer("/" + p);
}

// "src_ports" -> "dst_ports": the other half of tcpdump's "port".
std::string dst_twin(std::string_view key)
{
    std::string twin(key);
    twin.replace(0, 3, "dst");
    return twin;
}

} // namespace

void session_arguments::add_to(CLI::App& app, const std::string& group)
{
    _options.reserve(session_fields().size());   // CLI11 keeps references into it
    for (const session_field& field : session_fields()) {
        if (field.flags.empty())
            continue;
        option_words& o = _options.emplace_back();
        o.field = &field;
        o.origin = long_name(field.flags);
        const std::string flags(field.flags);
        const std::string help(field.help);
        switch (field.words) {
        case words_as::flag:
            o.option = app.add_flag(flags, o.set, help);
            break;
        case words_as::list:
        case words_as::texts:
            o.option = app.add_option(flags, o.words, help)->delimiter(',');
            break;
        default:
            o.option = app.add_option(flags, o.word, help);
            break;
        }
        o.option->group(group);
        if (!field.type_name.empty())
            o.option->type_name(std::string(field.type_name));
    }
}

std::vector<std::string> session_arguments::given() const
{
    std::vector<std::string> names;
    for (const option_words& o : _options)
        if (o.option->count() > 0)
            names.push_back(o.origin);
    if (!_bpf_origin.empty())
        names.push_back(_bpf_origin);
    return names;
}

void session_arguments::set_bpf(std::string expression, std::string origin)
{
    _bpf = std::move(expression);
    _bpf_origin = std::move(origin);
}

std::string session_arguments::take_last_words(const std::vector<std::string>& words, bool bpf_given,
                                               std::string& spec_file)
{
    if (words.size() == 1 && words[0].ends_with(".json") && spec_file.empty()) {
        spec_file = words[0];
        return {};
    }
    if (words.empty())
        return {};
    if (bpf_given)
        return "give the filter expression either with --bpf or as the last words, not both";
    set_bpf(fmt::format("{}", fmt::join(words, " ")), "the filter expression");
    return {};
}

std::string read_spec_file(const std::string& path, std::string& text)
{
    std::ifstream in(path);
    if (!in)
        return fmt::format("cannot read it: {}", std::strerror(errno));
    // A folder opens, and reads as nothing: "not valid JSON ... end of input" would not say why.
    if (std::error_code ec; std::filesystem::is_directory(path, ec))
        return "is a folder: give the spec file in it (a JSON object, docs/filters.md)";
    std::stringstream contents;
    contents << in.rdbuf();
    text = contents.str();
    return {};
}

std::string session_arguments::build(const std::string& spec_file, json& spec)
{
    _file = spec_file;
    spec = json::object();
    if (!spec_file.empty()) {
        const std::string in_file = "--filter-file " + spec_file + ": ";
        std::string text;
        if (std::string e = read_spec_file(spec_file, text); !e.empty())
            return in_file + e;
        if (std::string e = parse_spec_json(text, spec); !e.empty())
            return in_file + e;
    }
    return lay_over(spec);
}

namespace {

// Where an expression's parentheses fail to pair: "" when they pair.
std::string unpaired_parenthesis(std::string_view expression)
{
    int depth = 0;
    for (size_t i = 0; i < expression.size(); i++) {
        depth += expression[i] == '(' ? 1 : expression[i] == ')' ? -1 : 0;
        if (depth < 0)
            return fmt::format("the \")\" at byte {} closes no \"(\"", i);
    }
    return depth == 0 ? std::string() : fmt::format("{} \"(\" left open", depth);
}

} // namespace

std::string session_arguments::lay_over(json& spec)
{
    _origins.clear();
    const auto value_of = [](const option_words& o) -> json {
        switch (o.field->words) {
        case words_as::text: return o.word;
        case words_as::number: return number_or_word(o.word);
        case words_as::megabytes: {
            const json n = number_or_word(o.word);
            if (n.is_number_unsigned() && n.get<uint64_t>() <= UINT64_MAX / 1000000)
                return n.get<uint64_t>() * 1000000;
            return n;
        }
        case words_as::list: {
            json list = json::array();
            for (const std::string& w : o.words)
                list.push_back(number_or_word(w));
            return list;
        }
        case words_as::texts: return o.words;
        case words_as::flag: return true;
        }
        return nullptr;
    };
    const auto set = [&](std::string_view path, json value, const std::string& origin) {
        // A spec file whose "limits" is not an object keeps it: the parser
        // says what is wrong with the file.
        const std::string top(path.substr(0, path.find('.')));
        if (path.find('.') != std::string_view::npos && spec.contains(top) && !spec[top].is_object())
            return;
        spec[pointer(path)] = std::move(value);
        _origins.emplace_back(path, origin);
    };
    _file_bpf.clear();
    _command_bpf.clear();
    if (spec.contains("bpf") && spec["bpf"].is_string())
        _file_bpf = spec["bpf"].get<std::string>();
    std::string unpaired;   // a part whose parentheses would break out of the AND
    const auto and_bpf = [&](const std::string& expression, const std::string& origin) {
        if (expression.empty() && spec.contains("bpf"))
            return;   // --bpf '' adds nothing to the file's
        if (spec.contains("bpf") && spec["bpf"].is_string() && !spec["bpf"].get<std::string>().empty()) {
            // "(A) and (B)" is A and B only if each pairs its own
            // parentheses: B = "tcp) or (udp" would make it "(A and tcp)
            // or udp". libpcap's grammar has no other place for a
            // parenthesis, so pairing them is the whole check.
            const std::string& file_bpf = spec["bpf"].get_ref<const std::string&>();
            if (std::string e = unpaired_parenthesis(expression); !e.empty() && unpaired.empty())
                unpaired = fmt::format("{} \"{}\": {}", origin, expression, e);
            if (std::string e = unpaired_parenthesis(file_bpf); !e.empty() && unpaired.empty())
                unpaired = fmt::format("{}bpf \"{}\": {}", _file.empty() ? "" : "--filter-file " + _file + ": ",
                                       file_bpf, e);
            spec["bpf"] = fmt::format("({}) and ({})", file_bpf, expression);
        } else {
            spec["bpf"] = expression;
        }
        _command_bpf = expression;
        _origins.emplace_back("bpf", origin);
    };

    json rule = json::object();
    std::vector<std::pair<std::string, std::string>> rule_origins;   // key in the rule -> option
    std::vector<const option_words*> either_way;
    std::vector<std::string> rule_options;
    for (const option_words& o : _options) {
        if (o.option->count() == 0)
            continue;
        const std::string_view path = o.field->path;
        if (path.starts_with(rule_prefix)) {
            rule_options.push_back(o.origin);
            if (o.field->either_way) {
                either_way.push_back(&o);
            } else {
                rule[pointer(path.substr(rule_prefix.size()))] = value_of(o);
                rule_origins.emplace_back(path.substr(rule_prefix.size()), o.origin);
            }
        } else if (path == "bpf") {
            and_bpf(o.word, o.origin);
        } else {
            set(path, value_of(o), o.origin);
        }
    }
    if (!_bpf_origin.empty())
        and_bpf(_bpf, _bpf_origin);
    if (!unpaired.empty())
        return unpaired + " (each part of the ANDed bpf must stand alone)";
    if (rule_options.empty())
        return {};

    if (spec.contains("match"))
        return fmt::format("the spec file has a \"match\" already: give the rules either there or with {}",
                           fmt::join(rule_options, ", "));
    // tcpdump's "host A": one rule with src A, one with dst A.
    std::vector<json> rules{rule};
    std::vector<decltype(rule_origins)> origins{rule_origins};
    for (const option_words* o : either_way) {
        const std::string src(o->field->path.substr(rule_prefix.size()));
        const std::string dst = dst_twin(src);
        std::vector<json> expanded;
        std::vector<decltype(rule_origins)> expanded_origins;
        for (size_t i = 0; i < rules.size(); i++) {
            if (rules[i].contains(src) || rules[i].contains(dst))
                return fmt::format("{} cannot be combined with the {} or {} it stands for", o->origin,
                                   src, dst);
            for (const std::string& key : {src, dst}) {
                json r = rules[i];
                r[key] = value_of(*o);
                auto from = origins[i];
                from.emplace_back(key, o->origin);
                expanded.push_back(std::move(r));
                expanded_origins.push_back(std::move(from));
            }
        }
        rules = std::move(expanded);
        origins = std::move(expanded_origins);
    }
    spec["match"] = rules;
    _origins.emplace_back("match", fmt::format("{}", fmt::join(rule_options, ", ")));
    for (size_t i = 0; i < rules.size(); i++)
        for (const auto& [key, origin] : origins[i])
            _origins.emplace_back(fmt::format("match[{}].{}", i, key), origin);
    return {};
}

bpf_parts session_arguments::bpf_parts() const
{
    return {_file, _file_bpf, _command_bpf};
}

std::string explain_bpf_error(std::string_view error, const bpf_parts& parts,
                              const std::function<std::string(const std::string&)>& check)
{
    if (!error.starts_with("bpf: "))
        return std::string(error);
    if (parts.command_bpf.empty())   // the file's alone
        return parts.file.empty() ? std::string(error) : fmt::format("--filter-file {}: {}", parts.file, error);
    if (parts.file_bpf.empty())   // the command line's alone
        return std::string(error);
    if (std::string e = check(parts.command_bpf); !e.empty())
        return "bpf: " + e;
    if (std::string e = check(parts.file_bpf); !e.empty())
        return fmt::format("--filter-file {}: bpf: {}", parts.file, e);
    return std::string(error);   // each compiles alone, not the two together: both are shown
}

std::string session_arguments::explain_filter_error(std::string_view error,
                                                    const std::function<std::string(const std::string&)>& check_bpf) const
{
    return error.starts_with("bpf: ") ? explain_bpf_error(error, bpf_parts(), check_bpf) : explain(error);
}

std::string session_arguments::explain(std::string_view error) const
{
    const std::pair<std::string, std::string>* best = nullptr;
    for (const auto& entry : _origins) {
        const std::string& path = entry.first;
        if (error.starts_with(path) &&
            (error.size() == path.size() || std::string_view(":[.").find(error[path.size()]) != std::string_view::npos) &&
            (best == nullptr || path.size() > best->first.size()))
            best = &entry;
    }
    if (best == nullptr)
        return _file.empty() ? std::string(error) : fmt::format("--filter-file {}: {}", _file, error);
    // "[2]: ..." -> ": ...": the list index of one word among the option's.
    std::string_view rest = error.substr(best->first.size());
    while (rest.starts_with('[') && rest.find(']') != std::string_view::npos)
        rest.remove_prefix(rest.find(']') + 1);
    if (!rest.starts_with(": "))
        return fmt::format("{}: {}", best->second, error);
    rest.remove_prefix(2);
    // The size of both parts of an ANDed bpf (each may be within it alone).
    if (best->first == "bpf" && !_file_bpf.empty() && !_command_bpf.empty())
        return fmt::format("{} ANDed with the bpf of --filter-file {}: {}", best->second, _file, rest);
    // A word the validator shows as a JSON string is shown as it was typed
    // ("\"12abc\" is not a whole number" -> "--count: 12abc is not ..."),
    // or after the option when the message is about it ("--name \"a/b\": a
    // session name has ...").
    if (rest.starts_with('"')) {
        const size_t close = rest.find('"', 1);
        // (Unquoted only when nothing in it is escaped: "a\x09b" is not
        // what was typed.)
        if (close != std::string_view::npos) {
            const bool as_typed = rest.substr(1, close - 1).find('\\') == std::string_view::npos;
            if (as_typed && rest.substr(close + 1).starts_with(" is not"))
                return fmt::format("{}: {}{}", best->second, rest.substr(1, close - 1), rest.substr(close + 1));
            if (rest.substr(close + 1).starts_with(":"))
                return fmt::format("{} {}", best->second, rest);
        }
    }
    return fmt::format("{}: {}", best->second, rest);
}

} // namespace linecap
