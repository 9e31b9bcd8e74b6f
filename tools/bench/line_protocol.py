"""The line protocol of the persistent PyTorch benchmark runners (torch_ssd.py, torch_training_parts.py), driven by
bench/Ssd.Bench's TorchRunner over stdin/stdout: "ready" once set up, then one reply per command line: "ok", or
"error: REASON" on the same line. "ping" is an empty round trip; "quit" ends the runner.
"""
import sys


def serve(handle):
    """Answers stdin until "quit": handle(parts) runs every command but ping; an exception becomes "error: ..."."""
    print("ready", flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "quit":
            break
        try:
            if parts[0] != "ping":
                handle(parts)
            print("ok", flush=True)
        except Exception as e:  # noqa: BLE001 - the driver reads the reason from the reply
            print(f"error: {e}".replace("\n", " "), flush=True)
    return 0
