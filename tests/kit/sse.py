"""Reading a server-sent events stream in tests."""

from __future__ import annotations

from collections.abc import Iterator


def sse_frames(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """SSE frames as {field: value}; comments under ":"."""
    frame: dict[str, str] = {}
    for line in lines:
        if line == "":
            if frame:
                yield frame
            frame = {}
        elif line.startswith(":"):
            frame[":"] = line[1:].strip()
        else:
            name, _, value = line.partition(":")
            frame[name] = value.removeprefix(" ")
