#!/usr/bin/env python3
"""Writes a deterministic Postfix-style mail log of about SIZE_MB megabytes.

The mix is what a relay in front of Microsoft 365 logs: mostly connection
and queue lines without a reply, deliveries (250), and a share of the
rejections from ../../shared/reference/m365-facts.md section 4, with Exchange
Online suffixes, IPs and queue ids that change from line to line.
Usage: generate_log.py OUTPUT [SIZE_MB]
"""
import random
import sys

REPLIES = [
    "550 5.7.30 Basic authentication is not supported for Client Submission.",
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
    "550 5.7.68 TenantInboundAttribution; Direct Send not allowed for this organization from unauthorized sources",
    "550 5.7.64 TenantAttribution; Relay Access Denied",
    "451 4.7.500 Server busy. Please try again later from [{ip}]. (S77714)",
    "550 5.7.606 Access denied, banned sending IP [{ip}]. To request removal from this list please visit https://sender.office.com/ and follow the directions. For more information please go to http://go.microsoft.com/fwlink/?LinkID=526655 (AS16012609)",
    "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)",
    "530 5.7.57 Client not authenticated to send mail.",
    "451 4.4.62 Mail sent to the wrong Office 365 region. ATTR35.",
]
STEPS = ["MAIL FROM", "RCPT TO", "end of DATA"]
FRONT_ENDS = ["BN8NAM12FT004.namprd12.prod.outlook.com", "DB5EUR03FT013.eop-EUR03.prod.protection.outlook.com",
              "SY5P282CA0097.AUSP282.PROD.OUTLOOK.COM"]


def queue_id(rng):
    return "".join(rng.choice("0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz") for _ in range(12))


def main():
    output = sys.argv[1]
    target = int(float(sys.argv[2]) * 1000 * 1000) if len(sys.argv) > 2 else 100 * 1000 * 1000
    rng = random.Random(5)
    written = 0
    second = 0
    with open(output, "w") as out:
        while written < target:
            second += 1
            stamp = "Mar %2d %02d:%02d:%02d" % (1 + second // 86400 % 28, second // 3600 % 24, second // 60 % 60, second % 60)
            qid = queue_id(rng)
            ip = "198.51.100.%d" % rng.randrange(1, 255)
            pid = rng.randrange(1000, 99999)
            lines = [
                f"{stamp} relay postfix/smtpd[{pid}]: connect from scanner{pid % 50}.contoso.com[192.0.2.{pid % 250}]\n",
                f"{stamp} relay postfix/smtpd[{pid}]: {qid}: client=scanner{pid % 50}.contoso.com[192.0.2.{pid % 250}]\n",
                f"{stamp} relay postfix/cleanup[{pid + 1}]: {qid}: message-id=<{second}.{pid}@scanner.contoso.com>\n",
                f"{stamp} relay postfix/qmgr[987]: {qid}: from=<scanner@contoso.com>, size={rng.randrange(900, 157286400)}, nrcpt=1 (queue active)\n",
            ]
            if rng.random() < 0.8:
                lines.append(
                    f"{stamp} relay postfix/smtp[{pid + 2}]: {qid}: to=<user{pid % 977}@contoso.com>, relay=smtp.office365.com[52.98.1.2]:587, "
                    f"delay=0.9, delays=0.1/0/0.3/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK <{second}.{pid}@relay.contoso.com> "
                    f"[Hostname=SY5P282MB{pid % 9999:04d}.AUSP282.PROD.OUTLOOK.COM])\n")
            else:
                reply = rng.choice(REPLIES).format(ip=ip)
                suffix = " [%s 2026-03-%02dT%02d:%02d:%02d.%03dZ %016X]" % (
                    rng.choice(FRONT_ENDS), 1 + second // 86400 % 28, second // 3600 % 24, second // 60 % 60, second % 60,
                    rng.randrange(1000), rng.getrandbits(64))
                status = "deferred" if reply.startswith("4") else "bounced"
                lines.append(
                    f"{stamp} relay postfix/smtp[{pid + 2}]: {qid}: to=<user{pid % 977}@fabrikam.com>, "
                    f"relay=fabrikam-com.mail.protection.outlook.com[52.101.41.7]:25, delay=1.2, delays=0.1/0/0.5/0.6, "
                    f"dsn={reply.split()[1]}, status={status} (host fabrikam-com.mail.protection.outlook.com[52.101.41.7] "
                    f"said: {reply}{suffix} (in reply to {rng.choice(STEPS)} command))\n")
            lines.append(f"{stamp} relay postfix/qmgr[987]: {qid}: removed\n")
            lines.append(f"{stamp} relay postfix/smtpd[{pid}]: disconnect from scanner{pid % 50}.contoso.com[192.0.2.{pid % 250}] "
                         f"ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7\n")
            chunk = "".join(lines)
            out.write(chunk)
            written += len(chunk)


if __name__ == "__main__":
    main()
