// sendcheck-preflight --batch FILE.csv: one preflight per row (a site survey
// of every printer and scanner), rows checked a few at a time, a summary
// table at the end, or JSON lines (one document per row) with --json.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "diag/ascii.h"
#include "diag/idna.h"
#include "diag/input_file.h"
#include "diag/preflight.h"
#include "diag/strings.h"
#include "diag/version.h"

namespace diag::preflight {
namespace {

constexpr std::size_t batch_concurrency = 4;  // SMTP sessions at once (the DNS of every row is on one loop)

Error at(const std::string& name, int line, const std::string& message) {
  return bad_input(name + ":" + std::to_string(line) + ": " + message);
}

// The required columns first, then the optional ones.
constexpr std::string_view columns[] = {"domain", "method", "ip", "from", "to", "smtp_host", "smtp_port", "user", "password_file"};
constexpr std::size_t required_columns = 5;

// 2 (the input is wrong) over 1 (a finding: a definite finding outranks an
// incomplete check) over 3 (not verified) over 0.
int exit_rank(int code) {
  switch (code) {
    case exit_ok: return 0;
    case exit_incomplete: return 1;
    case exit_finding: return 2;
    default: return 3;
  }
}

std::string verdict_label(const BatchResult& result) {
  if (result.exit_code == exit_usage) return "BAD INPUT";
  if (!result.verdict) return "NOT VERIFIED";
  return std::string(label(*result.verdict));
}

}  // namespace

Result<std::vector<CsvRecord>> parse_csv(std::string_view text, const std::string& name, char separator) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // the BOM spreadsheets write
  std::vector<CsvRecord> records;
  std::size_t i = 0;
  int line = 1;
  while (i < text.size()) {
    CsvRecord record;
    record.line = line;
    bool end_of_record = false;
    while (!end_of_record) {
      std::string field;
      if (i < text.size() && text[i] == '"') {
        ++i;
        for (;;) {
          if (i >= text.size()) return at(name, record.line, "a quoted field is not closed");
          const char c = text[i];
          if (c == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {  // RFC 4180 2.7: "" is a quote
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (c == '\n') ++line;
          field += c;
          ++i;
        }
        if (i < text.size() && text[i] != separator && text[i] != '\n' && text[i] != '\r')
          return at(name, line, "text after the closing quote of a field (write \"\" for a quote inside quotes)");
      } else {
        while (i < text.size() && text[i] != separator && text[i] != '\n' && text[i] != '\r') {
          if (text[i] == '"') return at(name, line, "a quote inside an unquoted field (put the field in quotes and write \"\")");
          field += text[i++];
        }
      }
      record.fields.push_back(std::move(field));
      if (i < text.size() && text[i] == separator) {
        ++i;
        continue;
      }
      if (i < text.size() && text[i] == '\r') {
        ++i;
        if (i < text.size() && text[i] == '\n') ++i;
      } else if (i < text.size() && text[i] == '\n') {
        ++i;
      }
      ++line;
      end_of_record = true;
    }
    const bool blank = record.fields.size() == 1 && std::string(ascii::trim(record.fields.front(), ascii::c_locale_space)).empty();
    if (!blank) records.push_back(std::move(record));
  }
  return records;
}

Result<Batch> read_batch(const std::string& path, const ToolOptions& base) {
  auto file = open_input_file(path, "batch file");
  if (!file) return file.error();
  std::ostringstream content;
  content << file->rdbuf();
  if (file->bad()) return input_read_error(path, "batch file");
  const char separator = strings::csv_separator(content.str());
  auto records = parse_csv(content.str(), path, separator);
  if (!records) return records.error();
  if (records->empty()) return bad_input(path + ": empty (expected a header row domain,method,ip,from,to)");

  Batch batch;
  if (separator == ';') batch.notes.push_back("the file separates its columns with ';'");
  const CsvRecord& header = records->front();
  std::vector<int> index(std::size(columns), -1);
  for (std::size_t i = 0; i < header.fields.size(); ++i) {
    const std::string name = ascii::to_lower(std::string(ascii::trim(header.fields[i], ascii::c_locale_space)));
    const auto* column = std::find(std::begin(columns), std::end(columns), name);
    if (column == std::end(columns)) {
      batch.notes.push_back("column \"" + name + "\" ignored (the columns are domain, method, ip, from, to, smtp_host, smtp_port, user, password_file)");
      continue;
    }
    auto& slot = index[static_cast<std::size_t>(column - std::begin(columns))];
    if (slot >= 0) return at(path, header.line, "column \"" + name + "\" twice");
    slot = static_cast<int>(i);
  }
  for (std::size_t c = 0; c < required_columns; ++c)
    if (index[c] < 0) return at(path, header.line, "no column \"" + std::string(columns[c]) + "\" (the header names domain, method, ip, from, to)");
  if (records->size() == 1) return bad_input(path + ": no rows after the header");
  // Several recipients in one field: ';' in a ','-separated file, ',' in a ';'-separated one.
  const char list_separator = separator == ';' ? ',' : ';';

  for (std::size_t r = 1; r < records->size(); ++r) {
    const CsvRecord& record = (*records)[r];
    if (record.fields.size() != header.fields.size())
      return at(path, record.line, std::to_string(record.fields.size()) + " fields, the header has " + std::to_string(header.fields.size()));
    auto field = [&](std::size_t c) {
      if (index[c] < 0) return std::string();
      return std::string(ascii::trim(record.fields[static_cast<std::size_t>(index[c])], ascii::c_locale_space));
    };
    BatchRow row;
    row.line = record.line;
    row.options = base;
    row.options.batch_file.clear();
    // Empty fields keep the command line's value.
    if (auto domain = field(0); !domain.empty()) row.options.domain = domain;
    if (auto method = field(1); !method.empty()) row.options.method = method;
    // The tenant's Reject Direct Send, given for every row, concerns its direct-send rows only.
    if (const std::string method = ascii::to_lower(row.options.method); method != "direct-send" && method != "auto" && !method.empty())
      row.options.reject_direct_send.clear(), row.options.recipient_kind.clear();
    // With --egress, a row's own address is compared with this machine's
    // (the session is the row's only from its network); without an address
    // the row is this machine's.
    if (auto ip = field(2); !ip.empty()) row.options.ip = ip;
    if (auto from = field(3); !from.empty()) row.options.from = from;
    if (auto to = field(4); !to.empty()) {
      row.options.to.clear();
      std::size_t start = 0;
      while (start <= to.size()) {
        std::size_t end = to.find(list_separator, start);
        if (end == std::string::npos) end = to.size();
        if (auto address = std::string(ascii::trim(std::string_view(to).substr(start, end - start), ascii::c_locale_space)); !address.empty()) row.options.to.push_back(address);
        start = end + 1;
      }
    }
    if (auto host = field(5); !host.empty()) row.options.smtp_host = host;
    if (auto port = field(6); !port.empty()) {
      if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
        return at(path, record.line, "smtp_port \"" + port + "\" is not a port number");
      row.options.smtp_port = std::stoi(port);
    }
    if (auto user = field(7); !user.empty()) row.options.user = user;
    if (auto password = field(8); !password.empty()) row.options.password_file = password;
    auto plan = make_plan(row.options);
    if (!plan) return at(path, record.line, plan.error().message);
    row.plan = std::move(plan.value());
    batch.rows.push_back(std::move(row));
  }
  return batch;
}

std::vector<BatchResult> run_batch(const std::vector<BatchRow>& rows, const dns::ResolverConfig& resolver_config, std::size_t concurrency,
                                   const std::function<void(std::size_t, std::size_t)>& progress) {
  std::vector<BatchResult> results(rows.size());
  dns::ResolverConfig config = resolver_config;
  // -v: whole lines from the loop and the SMTP sessions' own resolvers, never interleaved.
  if (config.on_log) {
    auto inner = config.on_log;
    auto mutex = std::make_shared<std::mutex>();
    config.on_log = [inner, mutex](const dns::QueryLogEntry& entry) {
      std::lock_guard lock(*mutex);
      inner(entry);
    };
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const BatchRow& row = rows[i];
    BatchResult& result = results[i];
    result.line = row.line;
    result.domain = row.plan.domain;
    result.from = row.plan.from.empty() ? row.plan.user : row.plan.from;
    result.ip = row.plan.ip ? row.plan.ip->to_string() : "";
    result.method = std::string(to_string(row.plan.method)) + (row.plan.recommendation ? " (auto)" : "");
  }
  std::size_t done = 0;
  const auto fill = [&](std::size_t i, const Result<Outcome>& outcome) {
    const BatchRow& row = rows[i];
    BatchResult& result = results[i];
    if (!outcome) {
      result.status = Status::error;
      result.exit_code = cli::exit_code_for(outcome.error());
      result.reason = outcome.error().message;
      // The envelope of a run that ended before any check, as every tool's.
      result.document = Report{tool_name, diag::version}.to_json();
      result.document["status"] = "error";
      result.document["error"] = outcome.error().message;
    } else {
      Report report = make_report(*outcome, row.plan, nullptr, TextLayout{});
      result.status = report.status();
      result.exit_code = outcome->verdict.exit_code();
      result.verdict = outcome->verdict.kind;
      result.reason = outcome->verdict.summary;
      result.causes = outcome->verdict.causes;
      result.untested = outcome->verdict.untested;
      if (outcome->ip) result.ip = outcome->ip->to_string();
      result.document = report.to_json();
    }
    result.document["batch"] = {{"line", row.line}, {"row", i + 1}};
    if (progress) progress(++done, rows.size());
  };
  if (progress) progress(0, rows.size());

  // One resolver for every row: its cache is the run's, so the rows of one
  // tenant ask its MX, SPF and DMARC once. One log for every row would say
  // nothing about a row: -v prints the questions as they finish instead.
  dns::ResolverConfig loop_config = config;
  loop_config.keep_log = false;
  auto resolver = dns::Resolver::create(loop_config);
  if (!resolver) {
    for (std::size_t i = 0; i < rows.size(); ++i) fill(i, resolver.error());
    return results;
  }
  // Rows enter the loop a window at a time: a row's parts start when it
  // enters, and the next enters when a row has its DNS answers. The
  // resolver's max_outstanding bounds the questions on the wire.
  SessionPool sessions(concurrency);
  std::vector<std::unique_ptr<PreflightRun>> runs(rows.size());
  const std::vector<dns::QueryLogEntry> no_log;
  std::size_t next = 0, in_loop = 0;
  std::function<void()> admit = [&] {
    while (in_loop < batch_rows_at_once && next < rows.size()) {
      const std::size_t i = next++;
      auto run = PreflightRun::prepare(rows[i].plan, config);
      if (!run) {
        fill(i, run.error());
        continue;
      }
      runs[i] = std::move(run.value());
      ++in_loop;
      runs[i]->start(**resolver, sessions, [&, i] {
        --in_loop;
        // A row whose session is over is decided now; the others once the loop is done.
        if (runs[i]->session_done()) {
          fill(i, runs[i]->finish(no_log));
          runs[i].reset();
        }
        admit();
      });
    }
  };
  admit();
  (*resolver)->run();
  for (std::size_t i = 0; i < rows.size(); ++i)
    if (runs[i]) {
      fill(i, runs[i]->finish(no_log));
      runs[i].reset();
    }
  // One record per tenant, checked on the same resolver: the rows' answers
  // are in its cache, so no name is asked again.
  merge_tenant_spf(rows, results, **resolver);
  return results;
}

namespace {

// The tenant's SPF records (one per sender domain), in the rows' order.
std::vector<TenantSpf> tenant_spf_records(const std::vector<const BatchResult*>& rows) {
  std::vector<TenantSpf> out;
  for (const auto* row : rows)
    if (row->tenant_spf && std::none_of(out.begin(), out.end(), [&](const TenantSpf& t) { return t.domain == row->tenant_spf->domain; }))
      out.push_back(*row->tenant_spf);
  return out;
}

std::string join_ips(const TenantSpf& spf) {
  std::string out;
  for (const auto& ip : spf.ips) out += (out.empty() ? "" : ", ") + ip;
  return out;
}

// The reason column: the summary without its method prefix (the method has its own column).
std::string reason_of(const BatchResult& result) {
  const auto colon = result.reason.find(": ");
  if (result.verdict && colon != std::string::npos) return result.reason.substr(colon + 2);
  return result.reason;
}

}  // namespace

std::string render_batch_summary(const std::vector<BatchResult>& results, bool markdown, const std::vector<std::string>& notes) {
  constexpr std::size_t column_count = 7;
  std::vector<std::array<std::string, column_count>> table;
  table.push_back({"Row", "Device (From)", "IP", "Domain", "Method", "Verdict", "Reason"});
  for (const auto& result : results)
    table.push_back({std::to_string(result.line), result.from, result.ip.empty() ? "-" : result.ip, result.domain, result.method,
                     verdict_label(result), reason_of(result)});
  std::size_t will_work = 0, will_not = 0, not_verified = 0, bad = 0;
  std::map<std::string, std::vector<const BatchResult*>> tenants;
  for (const auto& result : results) {
    if (result.exit_code == exit_usage) ++bad;
    else if (!result.verdict || *result.verdict == VerdictKind::not_verified) ++not_verified;
    else if (*result.verdict == VerdictKind::will_work) ++will_work;
    else ++will_not;
    tenants[result.domain].push_back(&result);
  }
  const std::string totals = std::to_string(results.size()) + " rows: " + std::to_string(will_work) + " will work, " +
                             std::to_string(will_not) + " will not work, " + std::to_string(not_verified) + " not verified" +
                             (bad ? ", " + std::to_string(bad) + " bad input" : "");
  std::string out;
  if (markdown) {
    out += "## Preflight batch: " + totals + "\n\n";
    for (const auto& note : notes) out += "- Note: " + markdown_cell(note) + "\n";
    if (!notes.empty()) out += "\n";
    for (std::size_t r = 0; r < table.size(); ++r) {
      out += "|";
      for (const auto& cell : table[r]) out += " " + markdown_cell(r == 0 ? cell : markdown_text(cell)) + " |";
      out += "\n";
      if (r == 0) out += "|---|---|---|---|---|---|---|\n";
    }
    for (const auto& [domain, rows] : tenants) {
      out += "\n### " + domain + "\n\n";
      for (const auto* row : rows)
        out += "- Row " + std::to_string(row->line) + " (" + markdown_text(row->from) + ", " + row->method + "): " + verdict_label(*row) +
               " - " + markdown_text(reason_of(*row)) + "\n";
      for (const auto& spf : tenant_spf_records(rows))
        out += spf.record ? "\nSPF record to publish for " + idna::display(spf.domain) + " (one record for " + join_ips(spf) + "):\n\n```\n" + *spf.record + "\n```\n"
                          : "\nSPF for " + spf.domain + " (" + join_ips(spf) + "): " + markdown_text(spf.note) + "\n";
    }
    return out;
  }
  for (const auto& note : notes) out += "Note: " + note + "\n";
  std::array<std::size_t, column_count> width{};
  for (const auto& row : table)
    for (std::size_t c = 0; c + 1 < column_count; ++c) width[c] = std::max(width[c], row[c].size());
  for (const auto& row : table) {
    std::string line;
    for (std::size_t c = 0; c < column_count; ++c)
      line += (c ? "  " : "") + row[c] + (c + 1 < column_count ? std::string(width[c] - row[c].size(), ' ') : "");
    out += line + "\n";
  }
  out += "\n" + totals + "\n";
  for (const auto& [domain, rows] : tenants) {
    std::size_t working = 0;
    for (const auto* row : rows) working += row->verdict && *row->verdict == VerdictKind::will_work;
    out += "\n" + domain + ": " + std::to_string(rows.size()) + " device" + (rows.size() == 1 ? "" : "s") + ", " + std::to_string(working) +
           " will work\n";
    for (const auto* row : rows)
      out += "  row " + std::to_string(row->line) + " " + row->from + " (" + row->method + "): " + verdict_label(*row) + "\n";
    for (const auto& spf : tenant_spf_records(rows))
      out += spf.record ? "  SPF record to publish for " + idna::display(spf.domain) + " (one record for " + join_ips(spf) + "):\n    " + *spf.record + "\n"
                        : "  SPF for " + spf.domain + " (" + join_ips(spf) + "): " + spf.note + "\n";
  }
  return out;
}

int run_batch_tool(const ToolOptions& options) {
  auto batch = read_batch(options.batch_file, options);
  if (!batch) return cli::print_error(tool_name, batch.error().message), cli::exit_code_for(batch.error());
  auto config = cli::resolver_config(options.common, tool_name);
  if (!config) return cli::print_error(tool_name, config.error().message), cli::exit_code_for(config.error());

  // A progress line only for a person watching: never in a log or a pipe.
  const bool terminal = ::isatty(STDERR_FILENO) == 1;
  std::function<void(std::size_t, std::size_t)> progress;
  if (terminal)
    progress = [](std::size_t done, std::size_t total) {
      std::fprintf(stderr, "\r%s: %zu/%zu rows checked", tool_name, done, total);
      std::fflush(stderr);
    };
  for (auto& row : batch->rows) find_sovereign_cloud(row.plan, *config);
  auto results = run_batch(batch->rows, *config, batch_concurrency, progress);
  if (terminal) std::fprintf(stderr, "\r\033[K");

  std::string output;
  if (options.common.json)
    for (const auto& result : results) output += json_text(result.document) + "\n";
  else
    output = render_batch_summary(results, options.markdown, batch->notes);
  int code = exit_ok;
  for (const auto& result : results)
    if (exit_rank(result.exit_code) > exit_rank(code)) code = result.exit_code;
  const bool written = std::fwrite(output.data(), 1, output.size(), stdout) == output.size();
  if (!written || std::fflush(stdout) != 0 || std::ferror(stdout)) {
    cli::print_error(tool_name, "cannot write to standard output");
    return exit_incomplete;
  }
  return code;
}

}  // namespace diag::preflight
