"""A loopback SMTP server for the benchmarks, in a process of its own (no GIL shared with the
benchmark). It accepts every message and appends one line per message to a file:
"<Message-ID>\\t<recipient>[,<recipient>...]". Stops on SIGTERM.

    .venv/bin/python bench/smtp_sink.py PORT FILE
"""

import logging
import re
import signal
import sys
import threading

from aiosmtpd.controller import Controller

MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


class Handler:
    def __init__(self, out):
        self.out = out

    async def handle_DATA(self, server, session, envelope):
        head = envelope.content.split(b"\r\n\r\n", 1)[0]
        found = MESSAGE_ID.search(head)
        message_id = found.group(1).decode("ascii", "replace") if found else "-"
        self.out.write(f"{message_id}\t{','.join(envelope.rcpt_tos)}\n")
        self.out.flush()
        return "250 Message accepted for delivery"


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with open(path, "a", encoding="utf-8") as out:
        controller = Controller(
            Handler(out), hostname="127.0.0.1", port=port, server_hostname="bench-sink"
        )
        controller.start()
        print("sink ready", flush=True)
        stop.wait()
        controller.stop()


if __name__ == "__main__":
    main()
