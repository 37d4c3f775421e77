"""Run in a fresh interpreter with DNS and non-loopback connections refused and recorded.

Prints one JSON line: the network attempts seen while loading every model and checking
an image and a text, plus a deliberate control attempt that proves the guard works.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket

ATTEMPTS: list[str] = []
_LOCAL = {"127.0.0.1", "::1", "localhost"}
_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect


def _guarded_getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
    if host not in _LOCAL and host is not None:
        ATTEMPTS.append(f"getaddrinfo {host}")
        raise socket.gaierror(socket.EAI_NONAME, "network disabled by offline_probe")
    return _real_getaddrinfo(host, *args, **kwargs)


def _guarded_connect(self, address):  # type: ignore[no-untyped-def]
    if isinstance(address, tuple) and address[0] not in _LOCAL:
        ATTEMPTS.append(f"connect {address[0]}")
        raise OSError("network disabled by offline_probe")
    return _real_connect(self, address)


socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]
socket.socket.connect = _guarded_connect  # type: ignore[method-assign]


async def main() -> None:
    from PIL import Image

    from app.moderation import ModerationGate

    gate = ModerationGate()
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (0, 0, 255)).save(buffer, "PNG")
    image = await gate.check_image(buffer.getvalue())
    text = await gate.check_text(
        "Bonjour, écrivez à jane.doe@example.com ou visitez https://example.org, merci."
    )
    model_attempts = list(ATTEMPTS)
    with contextlib.suppress(OSError):  # control: the guard must see this one
        socket.getaddrinfo("example.com", 443)
    print(
        json.dumps(
            {
                "model_attempts": model_attempts,
                "control_seen": len(ATTEMPTS) > len(model_attempts),
                "image": image.decision,
                "text": text.to_json(),
            }
        )
    )


if __name__ == "__main__":  # imported by tests/release/release_probe.py for its guard
    asyncio.run(main())
