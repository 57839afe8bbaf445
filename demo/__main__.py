"""``python -m demo``: build and start HAPI FHIR, the EHR sandbox and the app; load the content.

Prints the two addresses to launch from (the clinician's EHR page and the
patient portal) and runs until Ctrl-C, then stops everything.
With ``--data-dir`` HAPI keeps its database between runs (loading is
idempotent, so starting again is safe).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time

from demo.stack import Stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="keep HAPI's database here between runs (default: in memory)")
    parser.add_argument("--fhir-base", help="use this running FHIR server instead of starting HAPI")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    # Ctrl-C and SIGTERM both stop cleanly (a background job may start with SIGINT ignored).
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("Starting HAPI FHIR (the first run builds it with Maven: a few minutes)...", flush=True)
    started = time.monotonic()
    with Stack(fhir_base=args.fhir_base, data_dir=args.data_dir) as stack:
        print(
            "\nMBT demo is running ({:.0f} s to start).\n"
            "  Clinician launch (EHR):       {}\n"
            "    (pick Peter Example and a practitioner, then Launch)\n"
            "  Patient launch (portal):      {}\n"
            "    (pick Peter Example, then Open MBT)\n"
            "  FHIR server (HAPI):           {}\n"
            "  App:                          {}\n"
            "Press Ctrl-C to stop.".format(time.monotonic() - started, stack.launch_page, stack.portal_page,
                                           stack.fhir_base, stack.app_base),
            flush=True,
        )
        while not stop.wait(0.5):
            pass
        print("\nStopping...", flush=True)
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
