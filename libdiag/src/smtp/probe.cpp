// sendcheck-probe's view of one session: a check per fact (connect, banner,
// EHLO, STARTTLS, each TLS fact on its own, AUTH, each envelope reply), each
// server reply interpreted from sendcheck-explain's knowledge table, and the
// JSON contract of issue 4.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <random>

#include "diag/explain.h"
#include "diag/idna.h"
#include "diag/mx.h"
#include "diag/resolver.h"
#include "diag/smtp.h"
#include "diag/strings.h"

namespace diag::smtp {

namespace {

using diag::strings::join;

std::string format_ms(double ms) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.0f ms", ms);
  return buffer;
}

const std::string client_certificate_remedy =
    "The server authenticates clients by certificate (a certificate-based connector, or mutual TLS): give the "
    "certificate it expects with --client-cert FILE and --client-key FILE.";

// sendcheck-probe plays a device or an application, which does not queue
// and retry as a mail server does (RFC 5321 4.2.1 speaks of the sending
// MTA): a 4xx reply fails its message now. The knowledge table's advice is
// written for mail servers; here it is said for the device, by step.
std::string device_transient_remedy(std::string_view id, const std::string& meaning_id, const std::string& remedy) {
  const std::string mta_prefix = "Temporary: the sending server retries by itself. If it keeps failing: ";
  const bool generic = meaning_id.starts_with("rfc");
  std::string rest = remedy.starts_with(mta_prefix) ? remedy.substr(mta_prefix.size()) : remedy;
  const std::string device =
      "Temporary for a mail server, which queues and retries; a device or application that submits mail usually does "
      "not: its message fails now. ";
  // Exchange Online's 4.7.500-699 deferral: the table's steps are a mail
  // server's (retry, ramp up volume, a connector); a device gets the wait
  // and the tenant-side check.
  const bool envelope_step = id.starts_with("smtp.mail") || id.starts_with("smtp.rcpt") || id == "smtp.data" || id == "smtp.message";
  if (meaning_id == "m365.ip-throttled")
    rest = "Exchange Online is deferring this source or tenant for now (\"Server busy\": a new source or a sudden rise; "
           "\"Access denied\": suspicious activity under evaluation). Try again later; if it persists, check the Microsoft "
           "Defender portal's Restricted entities page and message trace for a compromised account or a mail storm from "
           "your tenant.";
  if (meaning_id == "m365.ip-throttled" && !envelope_step) return device + rest;
  if (id == "smtp.starttls")
    return device + "A server that answers STARTTLS with 4xx could not start TLS: usually its certificate or private key "
                    "is missing or unreadable, or its TLS settings are broken; check the server's TLS configuration and "
                    "its log." + (generic ? std::string() : " " + rest);
  if (id == "smtp.auth")
    return device + "The server could not check the credentials just now (its authentication service is unreachable "
                    "or busy, or it delays after failed attempts): try again in a few minutes; if it persists, check "
                    "the server's authentication service and log." + (generic ? std::string() : " " + rest);
  // Some 4xx replies name a cause that sending again does not cure (451
  // 4.4.62: the wrong region; 421 4.7.66: TLS 1.0/1.1): that cause alone,
  // not a guess at greylisting.
  const bool lasting = meaning_id == "m365.wrong-region" || meaning_id == "m365.legacy-tls-rejected";
  if (lasting) return device + rest;
  if (envelope_step)
    return device + "The server deferred it (greylisting, a rate limit, a full queue or a lookup that failed for now): "
                    "send again later, or let the device submit through a local relay that queues and retries." +
           (generic ? std::string() : " " + rest);
  return device + (generic ? "The server is not taking this session now (busy, throttling or in maintenance): try "
                             "again later; if it persists, ask the server's administrator."
                           : rest);
}

struct CheckBuilder {
  nlohmann::json where;
  ReplyContext context;
  std::vector<Check> checks;

  Check& add(std::string id, Status status, std::string message, std::string remedy = {}) {
    Check check;
    check.id = std::move(id);
    check.status = status;
    check.message = std::move(message);
    if (status != Status::pass && status != Status::info) check.remedy = std::move(remedy);
    check.fields = where;
    checks.push_back(std::move(check));
    return checks.back();
  }

  // A check for a server reply: pass for 2xx/3xx, warn for 4xx, fail for 5xx
  // and for 421 (the server ends the session).
  Check& add_reply(std::string id, const std::string& step, const Reply& reply) {
    const ReplyMeaning meaning = interpret(reply, context);
    Status status = reply.positive() ? Status::pass : reply.transient() && reply.code != 421 ? Status::warn : Status::fail;
    std::string message = step + ": " + reply.raw();
    if (!reply.positive()) message += " (" + meaning.title + ")";
    const std::string remedy = reply.transient() ? device_transient_remedy(id, meaning.id, meaning.remedy) : meaning.remedy;
    Check& check = add(std::move(id), status, message, remedy);
    check.fields["reply"] = reply_json(reply, context);
    return check;
  }
};

// The address in "RCPT TO:<a@b.example> ..." (RFC 5321 4.1.1.3).
std::string path_of(std::string_view command) {
  const auto open = command.find('<'), close = command.find('>');
  return open == std::string_view::npos || close == std::string_view::npos || close < open
             ? std::string()
             : std::string(command.substr(open + 1, close - open - 1));
}
}  // namespace

ReplyMeaning interpret(const Reply& reply, const ReplyContext& context) {
  explain::ReplyDetails details;
  const std::string text = explain::extract_details(reply.text(), details);
  // The reply's own addresses (a Send As refusal names both) come first.
  if (details.login.empty() && details.from_address.empty()) {
    details.login = context.login;
    details.from_address = context.from_address;
  }
  // The domain whose SPF a receiver checks is MAIL FROM's.
  if (const auto at = context.from_address.rfind('@'); details.domain.empty() && at != std::string::npos)
    details.domain = context.from_address.substr(at + 1);
  const explain::Meaning meaning = explain::explain_reply(reply.code, reply.enhanced, text, details);
  ReplyMeaning out;
  out.id = meaning.id;
  out.title = meaning.title;
  if (context.oauth && (meaning.id == "m365.basic-auth-disabled-by-policy" || meaning.id == "m365.security-defaults")) {
    out.title = "The reply names a block of password logins, but this sign-in used an OAuth token (XOAUTH2): the Entra "
                "sign-in log names what blocked it";
    out.remedy = "Look up this failed sign-in in the Microsoft Entra sign-in logs: for a token it is a Conditional Access "
                 "policy that blocks it (security defaults and Exchange authentication policies block only password logins).";
    return out;
  }
  std::vector<std::string> steps(meaning.remedy.begin(), meaning.remedy.begin() + std::min<std::size_t>(meaning.remedy.size(), 3));
  out.remedy = join(steps, " ");
  return out;
}

nlohmann::json reply_json(const Reply& reply, const ReplyContext& context) {
  const ReplyMeaning meaning = interpret(reply, context);
  return {{"code", reply.code},
          {"enhanced", reply.enhanced.empty() ? nlohmann::json(nullptr) : nlohmann::json(reply.enhanced)},
          {"text", reply.text()},
          {"meaning", meaning.title},
          // A cross-reference a person can run, never the table's internal id.
          {"explain", "sendcheck explain " + (reply.enhanced.empty() ? std::to_string(reply.code) : reply.enhanced)},
          {"remedy", meaning.remedy.empty() ? nlohmann::json(nullptr) : nlohmann::json(meaning.remedy)},
          {"lines", reply.lines}};
}

std::string format_transcript_entry(const TranscriptEntry& entry) {
  char prefix[48];
  std::snprintf(prefix, sizeof prefix, "%8.1f ms %-3s ", entry.ms, entry.dir.c_str());
  return prefix + entry.line;
}

namespace {

// The checks of one session, step by step in the order the session runs.
// Each step reports what it saw; failure_reported remembers whether the
// failure that ended the session was named by a step, so that the last one
// (unreported_failure) names it otherwise.
struct SessionChecks {
  SessionChecks(const SessionConfig& config, const SessionResult& result, const std::string& host,
                const std::string& address)
      : config(config), result(result), failure(result.failure), address(address) {
    out.where = {{"host", host}, {"address", address}, {"port", config.port}};
    if (config.auth != AuthMechanism::none) out.context.login = config.user;
    out.context.oauth = config.auth == AuthMechanism::xoauth2;
    out.context.from_address = config.mail_from;
    endpoint =
        (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" + std::to_string(config.port);
  }

  std::vector<Check> run() && {
    if (!connect()) return std::move(out.checks);
    out.add("smtp.connect", Status::pass, "connected to " + endpoint + " in " + format_ms(result.connect_ms));
    // Implicit TLS comes before the banner.
    if (config.tls_mode == TlsMode::implicit) {
      tls();
      if (!result.tls.handshake_completed) return std::move(out.checks);
    }
    banner();
    ehlo();
    starttls();
    auth();
    envelope();
    unreported_failure();
    return std::move(out.checks);
  }

  const SessionConfig& config;
  const SessionResult& result;
  const Failure& failure;
  const std::string& address;
  std::string endpoint;
  CheckBuilder out;
  bool failure_reported = false;

  // False when there was no connection: nothing else to check.
  bool connect() {
    if (!result.connected) {
      if (failure.failure_class == FailureClass::connect) {
        failure_reported = true;
        // Closed from here is the finding (exit 1): what the admin needs to know.
        if (failure.kind == "timeout")
          out.add("smtp.connect", Status::fail,
                  "no answer from " + endpoint + " within " +
                      format_ms(static_cast<double>(config.timeouts.connect.count())) + ": port " +
                      std::to_string(config.port) +
                      " looks blocked on the way out (a firewall drops the connection attempt) or the host is down",
                  "Try from another network. Many ISPs and cloud providers block outbound port 25; ask for it to be "
                  "opened, "
                  "or submit on port 587 to smtp.office365.com with authentication.");
        else if (failure.kind == "refused")
          out.add(
              "smtp.connect", Status::fail,
              endpoint + " refused the connection: nothing listens on port " + std::to_string(config.port) + " there",
              "Check the host and port: Microsoft 365 takes direct send on the tenant MX, port 25, and submission on "
              "smtp.office365.com, port 587.");
        else
          out.add("smtp.connect", Status::error, endpoint + ": " + failure.message,
                  "Check the network path (routing, IPv6 connectivity with -4/-6).");
      } else if (failure) {
        failure_reported = true;
        out.add("smtp.internal", Status::error, failure.message);
      }
      return false;
    }
    return true;
  }

  void tls() {
    const auto& facts = result.tls;
    if (!facts.handshake_completed) {
      const auto offered = tls::version_from_openssl_name(facts.server_version);
      if (facts.failure == tls::HandshakeFailure::certificate_required)
        out.add("tls.handshake", Status::fail,
                "the TLS handshake failed: the server demands a client certificate (" + facts.error + ")",
                client_certificate_remedy);
      else if (offered && *offered < tls::Version::tls1_2 &&
               !(config.tls.versions.min && *config.tls.versions.min <= *offered))
        out.add(
            "tls.handshake", Status::fail,
            "the server offered only " + facts.server_version + ", which this client refused (" + facts.error +
                "): it needs TLS 1.2 or later by default",
            "The server speaks only TLS 1.0/1.1, which Exchange Online and current clients refuse: enable TLS 1.2 on "
            "it. To see the rest of its TLS anyway, probe with --tls-min " +
                std::string(*offered == tls::Version::tls1_0 ? "1.0" : "1.1") + ".");
      else if (config.tls_mode == TlsMode::implicit && result.peer_hint == "SMTP")
        out.add("tls.handshake", Status::fail,
                "port " + std::to_string(config.port) + " speaks plain SMTP, not implicit TLS: it answered the TLS ClientHello "
                "with text (" + facts.error + "), and greets a plain connection with \"" + result.plain_greeting + "\"",
                "Probe it without --implicit-tls: it is a STARTTLS or plain port (Exchange Online's 587 and 25 take STARTTLS after EHLO). "
                "A device set to SSL/TLS (implicit TLS) on this port fails the same way: set it to STARTTLS.");
      else if (facts.failure == tls::HandshakeFailure::timed_out)
        out.add("tls.handshake", Status::error, "the TLS handshake did not finish within the timeout: " + facts.error,
                "Try again with a longer --timeout.");
      else
        out.add("tls.handshake", Status::fail, "the TLS handshake failed: " + facts.error,
                "The server and this client share no TLS version or cipher, or the server's TLS is broken. "
                "Exchange Online needs TLS 1.2 or later; see --tls-min/--tls-max to test what a device would meet.");
      return;
    }
    out.add("tls.handshake", Status::pass, "TLS handshake completed: " + facts.version + " " + facts.cipher);
    const auto version = tls::version_from_openssl_name(facts.version);
    const auto& offered_max = config.tls.versions.max;
    if (version && *version < tls::Version::tls1_2 && (!offered_max || *offered_max >= tls::Version::tls1_2))
      // The client offered TLS 1.2 or later and the server chose less: the
      // same server the default run refuses, the same finding.
      out.add("tls.version", Status::fail,
              "the server chose " + facts.version + " although this client offered " +
                  (offered_max ? std::string(tls::to_string(*offered_max)) : std::string("up to TLS 1.3")) +
                  ": it speaks only TLS 1.0/1.1, which this client accepted only because of --tls-min; by default "
                  "(TLS 1.2 or later, as Exchange Online and current clients require) the handshake fails",
              "Enable TLS 1.2 (and 1.3) on the server: clients that need TLS 1.2 cannot use it.");
    else if (version && *version < tls::Version::tls1_2)
      out.add("tls.version", Status::warn,
              "the server accepted " + facts.version + ", the most this client offered (--tls-max): a legacy device "
              "gets TLS here; Exchange Online refuses TLS 1.0 and 1.1",
              // Inbound TLS at the MX is opportunistic; only submission refuses old TLS
              // (https://techcommunity.microsoft.com/blog/exchange/understanding-email-scenarios-if-tls-versions-cannot-be-agreed-on-with-exchange-/2065089).
              "smtp.office365.com refuses TLS 1.0/1.1 (421 4.7.66): a device limited to them needs a firmware update, the opt-in legacy "
              "endpoint smtp-legacy.office365.com, or plain SMTP to the tenant's MX on port 25, where TLS is optional.");
    else
      out.add("tls.version", Status::pass, "negotiated " + facts.version);
    const std::string subject = facts.chain.empty() ? std::string("(none)") : facts.chain.front().subject;
    // Checked here, not by OpenSSL's security level: --tls-min 1.0 lowers
    // that level for the protocol, and must not hide a weak key.
    if (!facts.chain.empty()) {
      const auto& leaf = facts.chain.front();
      const bool weak =
          (leaf.key_type == "RSA" && leaf.key_bits < 2048) || (leaf.key_type == "EC" && leaf.key_bits < 256);
      if (weak)
        out.add("tls.key", Status::fail,
                "the certificate of " + subject + " has a " + std::to_string(leaf.key_bits) + "-bit " + leaf.key_type +
                    " key: clients at current security levels (OpenSSL level 2, Exchange Online) refuse it",
                "Issue the server a new certificate with a 2048-bit (or larger) RSA key or a P-256 ECDSA key.");
      else
        out.add("tls.key", Status::pass,
                "the certificate's key: " + std::to_string(leaf.key_bits) + "-bit " + leaf.key_type);
    }
    // Trust is judged apart from the dates, which the expiry row judges: an
    // expired certificate from a trusted CA is not "trusted" to a reader.
    if (facts.chain_trusted && (facts.expired || facts.not_yet_valid))
      out.add("tls.chain-trusted", Status::pass,
              "the certificate chain of " + subject + " leads to a trusted CA, but the certificate is " +
                  (facts.expired ? "expired" : "not valid yet") + " (below): clients refuse it until it is renewed");
    else if (facts.chain_trusted)
      out.add("tls.chain-trusted", Status::pass, "the certificate chain of " + subject + " is trusted");
    else
      out.add(
          "tls.chain-trusted", Status::fail,
          "the certificate chain of " + subject + " is not trusted: " + facts.verify_error,
          facts.chain_too_weak
              ? "Reissue the certificate (and any CA of its chain that is affected) with a SHA-256 signature and a 2048-bit "
                "RSA or P-256 key: current clients refuse SHA-1 signatures and shorter keys, whatever TLS version is allowed."
          : config.tls.ca_file.empty()
              ? "Install a certificate from a public CA with its intermediates, or pass the private CA with --ca FILE."
              : "The chain does not lead to a CA in " + config.tls.ca_file + ".");
    if (!facts.name_matches)
      out.add("tls.name-matches", Status::info,
              "no host name to check the certificate against (an address was probed)");
    else if (*facts.name_matches)
      out.add("tls.name-matches", Status::pass, "the certificate is valid for " + facts.server_name);
    else {
      std::string names = facts.chain.empty() ? "" : join(facts.chain.front().san, ", ");
      out.add("tls.name-matches", Status::fail,
              "the certificate is not valid for " + facts.server_name + " (it names " +
                  (names.empty() ? subject : names) + ")",
              "Devices that check names will refuse this server: use a certificate that names the host devices connect "
              "to.");
    }
    if (facts.expires_in_days) {
      const long days = *facts.expires_in_days;
      const std::string not_after = facts.chain.empty() ? "" : " (" + facts.chain.front().not_after + ")";
      if (facts.expired)
        out.add("tls.expiry", Status::fail,
                "the certificate expired " + std::to_string(-days) + " days ago" + not_after,
                "Renew the server certificate.");
      else if (facts.not_yet_valid)
        out.add("tls.expiry", Status::fail, "the certificate is not valid yet (" + facts.chain.front().not_before + ")",
                "Check the server's clock and the certificate's validity dates.");
      else if (days < 14)
        out.add("tls.expiry", Status::warn, "the certificate expires in " + std::to_string(days) + " days" + not_after,
                "Renew the server certificate soon.");
      else
        out.add("tls.expiry", Status::pass, "the certificate expires in " + std::to_string(days) + " days" + not_after);
    }
  }

  void banner() {
    if (result.banner) {
      if (result.banner->code == 220) {
        if (result.slow_banner)
          out.add("smtp.banner", Status::warn,
                  "the banner came after " + format_ms(result.banner_ms) +
                      " (a tarpit or an overloaded server): " + result.banner->raw(),
                  "Devices with short timeouts give up before a slow greeting; check for greylisting or tarpitting in "
                  "front of the server.");
        else
          out.add("smtp.banner", Status::pass,
                  "banner after " + format_ms(result.banner_ms) + ": " + result.banner->raw());
      } else {
        out.add_reply("smtp.banner", "the server refused the session at connect", *result.banner);
        failure_reported = failure.kind == "banner";
      }
    } else if (failure && failure.phase == "banner") {
      failure_reported = true;
      if (failure.kind == "not-smtp")
        out.add("smtp.banner", Status::fail,
                "port " + std::to_string(config.port) + " on " + address + ": " + failure.message,
                result.peer_hint == "TLS"
                    ? "The port expects TLS first (implicit TLS): probe it with --implicit-tls. Devices "
                      "that need implicit TLS cannot use SMTP AUTH submission at Microsoft 365 (587, STARTTLS)."
                    : "Point devices at the mail server's SMTP port (25 for direct send, 587 for submission).");
      else if (failure.kind == "banner-timeout")
        out.add("smtp.banner", Status::fail,
                "connected in " + format_ms(result.connect_ms) + " but no banner within " +
                    format_ms(static_cast<double>(config.timeouts.banner.count())) + ": " + failure.message,
                "A firewall or antivirus doing SMTP inspection, or a tarpit, holds the greeting; try a longer "
                "--timeout and another network.");
      else if (result.tls.failure == tls::HandshakeFailure::certificate_required)
        out.add("smtp.banner", Status::fail, "the server demands a client certificate: " + failure.message,
                client_certificate_remedy);
      else if (failure.kind == "line-too-long" || failure.kind == "too-many-lines" || failure.kind == "bad-reply")
        // It sent something, and not an SMTP greeting.
        out.add("smtp.banner", Status::fail, failure.message,
                "What answers on port " + std::to_string(config.port) + " does not greet as an SMTP server: check the host and "
                "port (25 for direct send, 587 for submission), and whether something on the way (a proxy, a firewall's "
                "inspection) answers in its place.");
      else
        out.add("smtp.banner", Status::fail, failure.message,
                "The server dropped the connection before greeting: it may refuse this client's address.");
    }
  }

  // EHLO. With implicit TLS the only greeting is inside TLS.
  bool greeted() const { return result.ehlo || (config.tls_mode == TlsMode::implicit && result.ehlo_after_tls); }

  void ehlo() {
    const bool implicit = config.tls_mode == TlsMode::implicit;
    if (greeted()) {
      const Extensions& first = result.ehlo ? result.before_tls : result.after_tls;
      std::string message =
          std::string(result.used_helo ? "HELO" : "EHLO") + " accepted" + (implicit ? " (inside TLS)" : "");
      if (!first.keywords.empty()) message += ": " + join(first.keywords, ", ");
      out.add("smtp.ehlo", Status::pass, message);
    }
    ehlo_refusals(false);  // with implicit TLS the EHLO is in state ehlo, after the TLS lines already
  }

  // A refusal of the EHLO inside TLS comes after the TLS lines, as it happened.
  void ehlo_refusals(bool after_tls) {
    for (const auto& policy : result.policy_replies)
      if (policy.kind == "ehlo" && policy.reply && (policy.phase == to_string(ClientState::ehlo_after_tls)) == after_tls)
        out.add_reply("smtp.ehlo", std::string("EHLO ") + (after_tls ? "(inside TLS) " : "") + config.helo, *policy.reply);
  }

  void starttls() {
    if (config.tls_mode == TlsMode::starttls && config.starttls != StarttlsPolicy::never && result.ehlo) {
      if (!result.starttls_offered) {
        out.add("smtp.starttls", config.starttls == StarttlsPolicy::require ? Status::fail : Status::warn,
                "the server does not offer STARTTLS: mail and credentials would cross the network in clear text",
                "Microsoft 365 always offers STARTTLS (on port 25, and on 587 where it requires it): a server that does "
                "not is another one (check the host name and port) or a firewall's SMTP inspection on the path removes "
                "it (turn that off). On a server you run, enable STARTTLS.");
        if (failure.kind == "starttls-missing") failure_reported = true;
      } else if (!result.starttls_reply || result.starttls_reply->code != 220) {
        if (result.starttls_reply) {
          auto& check = out.add_reply("smtp.starttls", "STARTTLS", *result.starttls_reply);
          // --starttls require: no TLS is a failure, however temporary the reply.
          if (config.starttls == StarttlsPolicy::require) check.status = Status::fail;
        }
        if (failure.kind == "starttls-refused") failure_reported = true;
      } else {
        out.add("smtp.starttls", Status::pass, "STARTTLS offered and accepted");
        tls();
        if (failure.failure_class == FailureClass::tls && failure.kind == "handshake") failure_reported = true;
        ehlo_refusals(true);
      }
    } else if (config.tls_mode == TlsMode::plain && result.ehlo) {
      out.add("smtp.starttls", Status::info,
              std::string("STARTTLS not used (--starttls never); the server ") +
                  (result.starttls_offered ? "offers" : "does not offer") + " it");
    }
    if (config.tls_mode == TlsMode::implicit && failure.failure_class == FailureClass::tls &&
        failure.kind == "handshake")
      failure_reported = true;
  }

  // AUTH mechanisms before and after TLS, and the AUTH attempt.
  void auth() {
    const bool implicit = config.tls_mode == TlsMode::implicit;
    if (greeted()) {
      std::string message =
          implicit ? "AUTH inside TLS: " +
                         (result.after_tls.auth.empty() ? std::string("none") : join(result.after_tls.auth, " "))
                   : "AUTH before TLS: " +
                         (result.before_tls.auth.empty() ? std::string("none") : join(result.before_tls.auth, " "));
      if (result.ehlo_after_tls && !implicit)
        message +=
            "; after TLS: " + (result.after_tls.auth.empty() ? std::string("none") : join(result.after_tls.auth, " "));
      Status status = Status::info;
      std::string remedy;
      // With STARTTLS the mechanisms that count are those after TLS: when the
      // session ended before that EHLO, nothing is known to be missing.
      const bool known = implicit || result.ehlo_after_tls || config.tls_mode == TlsMode::plain;
      if (!known && !implicit) message += "; after TLS: not reached";
      if (config.auth != AuthMechanism::none && known) {
        const Extensions& effective = result.ehlo_after_tls ? result.after_tls : result.before_tls;
        if (!effective.offers_auth(to_string(config.auth))) {
          status = Status::warn;
          message += " (AUTH " + std::string(to_string(config.auth)) + " is not offered)";
          remedy = "Exchange Online offers AUTH LOGIN and XOAUTH2 only after STARTTLS on smtp.office365.com:587.";
        }
      }
      auto& check = out.add("smtp.auth.mechanisms", status, message, remedy);
      check.fields["before_tls"] = result.before_tls.auth;
      check.fields["after_tls"] = result.after_tls.auth;
    }
    if (config.auth != AuthMechanism::none) {
      if (result.auth) {
        auto& check = out.add_reply("smtp.auth", "AUTH " + std::string(to_string(config.auth)) + " as " + config.user,
                                    result.auth->reply);
        // Not signed in is a failure, temporary or not: nothing after it was tested.
        if (!result.auth->reply.positive()) check.status = Status::fail;
        if (failure.kind == "auth") failure_reported = true;
      } else if (failure.kind == "auth-unverified-tls") {
        out.add("smtp.auth", Status::fail, failure.message,
                "If the server uses your own private CA, give it with --ca FILE; if it should have a public certificate, find "
                "what on this network intercepts TLS (the certificate rows show its issuer). To a test server you trust, "
                "sendcheck probe sends them anyway with --insecure-auth.");
        failure_reported = true;
      } else if (failure.kind == "auth-without-tls") {
        out.add("smtp.auth", Status::fail, failure.message,
                "AUTH must run inside TLS: Exchange Online offers it only after STARTTLS. Set the device's encryption to "
                "STARTTLS (with sendcheck probe: --starttls require).");
        failure_reported = true;
      } else if (result.connected) {
        // Asked for and never run: after a refusal by the server (STARTTLS
        // answered 454, say) that is a failure of what was asked, not a pass.
        const bool refused = server_refused();
        out.add("smtp.auth", refused ? Status::fail : Status::info,
                "AUTH " + std::string(to_string(config.auth)) + " as " + config.user + " was not attempted" +
                    (failure ? ": " + failure.phase + " failed first" : std::string()),
                refused ? "Fix what failed first (above): the credentials were not tested, and a device would fail there too."
                        : "");
      }
    }
  }

  // The session ended, or went on without TLS, on the server's answer (a
  // 5xx, a 4xx, STARTTLS refused), not on a timeout or a broken exchange.
  bool server_refused() const {
    return failure && (failure.failure_class == FailureClass::policy || failure.kind == "starttls-refused");
  }

  void envelope() {
    for (const auto& step : result.envelope) {
      if (step.command.starts_with("MAIL"))
        out.add_reply("smtp.mail", step.command, step.reply);
      // One id for every recipient (the same fact has the same id in every
      // tool); which recipient it was is the field "recipient".
      else if (step.command.starts_with("RCPT"))
        out.add_reply("smtp.rcpt", step.command, step.reply).fields["recipient"] = path_of(step.command);
      else if (step.command == "DATA")
        out.add_reply("smtp.data", "DATA", step.reply);
      else if (step.command == "<end of message>")
        out.add_reply("smtp.message", "end of message", step.reply);
    }
    if (failure.failure_class == FailureClass::policy) failure_reported = true;
    // What was asked for and never happened is said, not left out.
    const auto mail_step = std::find_if(result.envelope.begin(), result.envelope.end(),
                                        [](const Exchange& step) { return step.command.starts_with("MAIL"); });
    const bool mail_tried = mail_step != result.envelope.end();
    // After a server's refusal (policy) a skipped step is a failure of what
    // was asked: a device would fail there too.
    const Status skipped_status = server_refused() ? Status::fail : Status::info;
    if (!config.mail_from.empty() && !mail_tried && result.connected) {
      const std::string why = failure ? "skipped: " + failure.phase + " failed first" : std::string("skipped");
      out.add("smtp.mail", skipped_status, "MAIL FROM:<" + config.mail_from + "> " + why).fields["skipped"] = true;
      for (std::size_t i = 0; i < config.rcpt_to.size(); ++i) {
        auto& row = out.add("smtp.rcpt", skipped_status, "RCPT TO:<" + config.rcpt_to[i] + "> " + why);
        row.fields["recipient"] = config.rcpt_to[i];
        row.fields["skipped"] = true;
      }
    }
    const bool mail_accepted = mail_tried && mail_step->reply.positive();
    const bool rcpt_tried = std::any_of(result.envelope.begin(), result.envelope.end(),
                                        [](const Exchange& step) { return step.command.starts_with("RCPT"); });
    if (mail_tried && !mail_accepted && !rcpt_tried)
      for (const auto& recipient : config.rcpt_to)
        out.add("smtp.rcpt", Status::info, "RCPT TO:<" + recipient + "> skipped: MAIL FROM was not accepted").fields["recipient"] =
            recipient;
    // Without --send too: an envelope with nothing accepted (MAIL FROM or
    // every recipient deferred) is a message a device sending now loses.
    const bool any_rcpt_accepted = std::any_of(result.envelope.begin(), result.envelope.end(), [](const Exchange& step) {
      return step.command.starts_with("RCPT") && step.reply.positive();
    });
    const bool deferred = (mail_tried && !mail_accepted && mail_step->reply.transient()) ||
                          (mail_accepted && rcpt_tried && !any_rcpt_accepted &&
                           std::any_of(result.envelope.begin(), result.envelope.end(), [](const Exchange& step) {
                             return step.command.starts_with("RCPT") && step.reply.transient();
                           }));
    if (!config.send && deferred)
      out.add("smtp.envelope", Status::fail,
              std::string(mail_accepted ? "no recipient was accepted (every RCPT TO was deferred)" : "MAIL FROM was deferred") +
                  ": a device or application sending now loses its message",
              "Look at the MAIL and RCPT replies above: a cause the reply names (a wrong region, TLS) does not clear by itself; "
              "greylisting or a rate limit clears later, and a local relay that queues and retries rides it out.");
    if (config.send) {
      const bool delivered = std::any_of(result.envelope.begin(), result.envelope.end(), [](const Exchange& step) {
        return step.command == "<end of message>" && step.reply.code == 250;
      });
      if (!delivered)
        out.add("smtp.send", Status::fail,
                "--send: nothing was sent (" +
                    std::string(mail_tried ? "the server accepted no recipient, or refused the message"
                                           : "the session ended before MAIL FROM") +
                    ")",
                "Look at the MAIL, RCPT and message replies above; a 4xx reply is temporary: try again later.");
    }
  }

  // Whatever ended the session that no step above names.
  void unreported_failure() {
    if (failure && !failure_reported) {
      Status status = Status::fail;
      std::string remedy = "The server broke the SMTP exchange; look at the transcript (-v) for the last lines.";
      if (failure.kind == "timeout")
        status = Status::error, remedy = "The server stopped answering; try a longer --timeout.";
      if (failure.failure_class == FailureClass::internal) status = Status::error, remedy.clear();
      if (failure.kind == "plaintext-after-starttls")
        remedy =
            "The server (or a middlebox) sends data before the TLS handshake: a STARTTLS injection risk "
            "(CVE-2011-0411).";
      if (failure.failure_class == FailureClass::tls && failure.kind == "tls-error")
        remedy = result.tls.failure == tls::HandshakeFailure::certificate_required
                     ? client_certificate_remedy
                     : "TLS broke after the handshake; look at the transcript (-v).";
      out.add("smtp.session", status, "in " + failure.phase + ": " + failure.message, remedy);
    }
  }
};

}  // namespace

std::vector<Check> session_checks(const SessionConfig& config, const SessionResult& result, const std::string& host,
                                  const std::string& address) {
  return SessionChecks(config, result, host, address).run();
}

TargetResult probe_target(const ProbeOptions& options, const ProbeTarget& target) {
  TargetResult out;
  out.target = target;
  out.port = options.port;
  SessionConfig config = options.session;
  config.address = target.address;
  config.port = options.port;
  config.host = target.host;
  out.session = run_session(config);
  out.checks = session_checks(config, out.session, target.host, target.address.to_string());
  return out;
}

nlohmann::json to_json(const TargetResult& result) {
  const auto& s = result.session;
  auto transcript = nlohmann::json::array();
  for (const auto& entry : s.transcript) transcript.push_back({{"dir", entry.dir}, {"line", entry.line}, {"ms", entry.ms}});
  auto envelope = nlohmann::json::array();
  for (const auto& step : s.envelope) envelope.push_back({{"command", step.command}, {"reply", reply_json(step.reply)}, {"ms", step.ms}});
  nlohmann::json tls = nullptr;
  if (s.tls_attempted) tls = tls::to_json(s.tls);
  nlohmann::json failure = nullptr;
  if (s.failure)
    failure = {{"class", to_string(s.failure.failure_class)}, {"kind", s.failure.kind}, {"phase", s.failure.phase},
               {"message", s.failure.message}};
  const Extensions& effective = s.ehlo_after_tls ? s.after_tls : s.before_tls;
  nlohmann::json attempt = nullptr;
  if (s.auth) {
    const std::string mechanism = s.auth->command.substr(5, s.auth->command.find(' ', 5) - 5);
    attempt = {{"mechanism", mechanism}, {"reply", reply_json(s.auth->reply, ReplyContext{{}, {}, mechanism == "XOAUTH2"})}};
  }
  return {{"host", result.target.host},
          {"address", result.target.address.to_string()},
          {"port", result.port},
          {"connected", s.connected},
          {"connect_ms", s.connected ? nlohmann::json(s.connect_ms) : nlohmann::json(nullptr)},
          {"banner", s.banner ? reply_json(*s.banner) : nlohmann::json(nullptr)},
          {"banner_ms", s.banner ? nlohmann::json(s.banner_ms) : nlohmann::json(nullptr)},
          {"ehlo", {{"before_tls", s.ehlo ? nlohmann::json(s.before_tls.keywords) : nlohmann::json::array()},
                    {"after_tls", s.ehlo_after_tls ? nlohmann::json(s.after_tls.keywords) : nlohmann::json::array()},
                    {"greeting", s.ehlo ? nlohmann::json(s.before_tls.greeting) : nlohmann::json(nullptr)},
                    {"size", effective.size ? nlohmann::json(*effective.size) : nlohmann::json(nullptr)}}},
          {"starttls", {{"offered", s.starttls_offered}, {"completed", s.starttls_completed}}},
          {"tls", tls},
          {"auth", {{"mechanisms", effective.auth},
                    {"mechanisms_before_tls", s.before_tls.auth},
                    {"mechanisms_after_tls", s.after_tls.auth},
                    {"attempt", attempt}}},
          {"envelope", envelope},
          {"failure", failure},
          {"transcript", transcript}};
}

std::string render_text(const TargetResult& result, const TextStyle& style) {
  const std::string address = result.target.address.to_string();
  std::string out = style.bold(idna::display(result.target.host) + " [" + address + "]:" + std::to_string(result.port)) + "\n";
  out += render_checks_text(result.checks, style, "  ");
  return out;
}

// ---------------------------------------------------------------------------
// Targets, EHLO name, test message

namespace {

void add_addresses(const dns::Answer& answer, const std::string& host, std::vector<ProbeTarget>& out) {
  for (const auto& address : answer.addresses()) {
    bool seen = false;
    for (const auto& existing : out) seen = seen || (existing.host == host && existing.address == address);
    if (!seen && out.size() < 32) out.push_back(ProbeTarget{host, address});
  }
}

Check target_check(std::string id, Status status, std::string message, std::string remedy, const std::string& name) {
  Check check;
  check.id = std::move(id);
  check.status = status;
  check.message = std::move(message);
  check.remedy = std::move(remedy);
  check.fields = {{"host", name}};
  return check;
}

}  // namespace

// A host to connect to: a domain, or a name without dots that the resolver
// completes or /etc/hosts knows ("localhost", "smtprelay" on a LAN).
Result<std::string> parse_host_name(const std::string& name) {
  if (name.find('.') != std::string::npos) return mx::parse_domain(name);
  std::string lower;
  for (const char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
      return bad_input("not a host name: " + name);
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (lower.empty() || lower.size() > 63 || lower.front() == '-' || lower.back() == '-')
    return bad_input("not a host name: " + name);
  return lower;
}

Result<std::vector<ProbeTarget>> resolve_targets(dns::Resolver& resolver, const std::string& name, bool as_domain,
                                                 bool ipv4, bool ipv6, std::vector<Check>& checks) {
  std::vector<ProbeTarget> out;
  if (auto literal = IpAddress::parse(name.starts_with("[") && name.ends_with("]") ? name.substr(1, name.size() - 2) : name)) {
    if (as_domain) return bad_input("--mx needs a domain, not an address: " + name);
    if ((literal->is_v4() && !ipv4) || (!literal->is_v4() && !ipv6))
      return bad_input(name + " is not of the address family asked for (-4/-6)");
    // "[::1]" and "::1" are one host: the certificate check sees the address.
    out.push_back(ProbeTarget{literal->to_string(), *literal});
    return out;
  }
  auto canonical = as_domain ? mx::parse_domain(name) : parse_host_name(name);
  if (!canonical) return canonical.error();
  std::vector<std::string> hosts;
  if (as_domain) {
    auto reports = mx::check_domains(resolver, {*canonical});
    const auto& report = reports.front();
    for (const auto& host : report.hosts) {
      if (host.ip_literal || host.host == ".") continue;
      hosts.push_back(host.host);
    }
    if (report.null_mx) {
      checks.push_back(target_check("smtp.target", Status::fail, *canonical + " publishes a null MX: it takes no mail",
                                    "Publish the tenant MX host (sendcheck mx " + *canonical + ").", *canonical));
      return out;
    }
    if (!report.mx_answer.is_definitive()) {
      checks.push_back(target_check("smtp.target", Status::error,
                                    "cannot find the MX hosts of " + *canonical + ": " + std::string(dns::to_string(report.mx_answer.outcome)),
                                    "Check the DNS servers (--dns) and try again.", *canonical));
      return out;
    }
    if (hosts.empty()) {
      checks.push_back(target_check("smtp.target", Status::fail, *canonical + " has no MX host",
                                    "Publish the tenant MX host (sendcheck mx " + *canonical + ").", *canonical));
      return out;
    }
  } else if (canonical->find('.') == std::string::npos) {
    // "localhost", "smtprelay": names the system resolver knows (/etc/hosts,
    // the search domains), not the DNS alone.
    for (const auto& address : system_addresses(*canonical, ipv4, ipv6)) {
      if (out.size() >= 32) break;
      out.push_back(ProbeTarget{*canonical, address});
    }
    if (out.empty())
      checks.push_back(target_check("smtp.target", Status::fail, "cannot resolve " + *canonical + " (no address from /etc/hosts or DNS)",
                                    "Check the host name, or give its address.", *canonical));
    return out;
  } else {
    hosts.push_back(*canonical);
  }
  // All address questions in flight together.
  std::vector<std::pair<std::string, dns::Answer>> answers;
  answers.reserve(hosts.size() * 2);
  for (const auto& host : hosts) {
    if (ipv4) resolver.query(host, dns::RrType::A, [&answers, host](const dns::Answer& a) { answers.emplace_back(host, a); });
    if (ipv6) resolver.query(host, dns::RrType::AAAA, [&answers, host](const dns::Answer& a) { answers.emplace_back(host, a); });
  }
  resolver.run();
  for (const auto& host : hosts) {
    std::size_t before = out.size();
    bool could_not_find_out = false;
    for (auto type : {dns::RrType::A, dns::RrType::AAAA})
      for (const auto& [asked, answer] : answers)
        if (asked == host && answer.type == type) {
          add_addresses(answer, host, out);
          could_not_find_out = could_not_find_out || !answer.is_definitive();
        }
    if (out.size() == before)
      checks.push_back(target_check("smtp.target", could_not_find_out ? Status::error : Status::fail,
                                    could_not_find_out ? "cannot resolve " + host : host + " has no address" +
                                                             std::string(ipv4 && !ipv6 ? " (IPv4)" : !ipv4 && ipv6 ? " (IPv6)" : ""),
                                    could_not_find_out ? "Check the DNS servers (--dns) and try again." : "Check the host name.", host));
  }
  return out;
}

std::string default_helo_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || !name[0]) return "localhost.localdomain";
  std::string host = name;
  if (host.find('.') != std::string::npos) return host;
  addrinfo hints{};
  hints.ai_flags = AI_CANONNAME;
  addrinfo* info = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &info) == 0 && info) {
    std::string canonical = info->ai_canonname ? info->ai_canonname : "";
    ::freeaddrinfo(info);
    if (canonical.find('.') != std::string::npos) return canonical;
  }
  return host + ".localdomain";
}

std::string encode_header_text(const std::string& text) {
  const bool ascii = std::all_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte >= 0x20 && byte < 0x7f;
  });
  if (ascii) return text;
  // RFC 2047 2 and 5: "=?UTF-8?B?...?=" words of at most 75 characters,
  // folded, never splitting a UTF-8 sequence between two words.
  std::string out;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = std::min(text.size(), at + 45);  // 45 octets: 60 base64 characters
    while (end < text.size() && end > at + 1 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64_encode(text.substr(at, end - at)) + "?=";
    at = end;
  }
  return out;
}

std::string build_test_message(const std::string& from, const std::vector<std::string>& rcpt_to, const std::string& subject,
                               const std::string& body) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char date[64];
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  std::mt19937_64 random{std::random_device{}()};
  const std::string domain = from.find('@') != std::string::npos ? from.substr(from.find('@') + 1) : "localhost";
  std::string to;
  for (const auto& r : rcpt_to) to += (to.empty() ? "" : ", ") + r;
  std::string message = "From: <" + from + ">\r\nTo: " + to + "\r\nSubject: " + encode_header_text(subject) + "\r\nDate: " + date +
                        "\r\nMessage-ID: <" + std::to_string(random()) + ".sendcheck@" + domain +
                        ">\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
  message += body;
  return message;
}

}  // namespace diag::smtp
