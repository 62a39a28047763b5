"""Image dimensions read from a file's header, without decoding: the decompression-bomb check.

A decoder allocates what the header claims (a 30000 × 30000 PNG is 2.7 GB of RGB, yet a few
kilobytes on disk), so the claim is checked before the decoder runs. PNG, JPEG, GIF and WebP,
which torchvision decodes with no limit of its own, are parsed here (a few bytes each, no copy
of the file); other formats go through PIL's lazy ``Image.open``, which reads only the header
and refuses the largest claims itself.
"""

from __future__ import annotations

import io

__all__ = ["image_size"]

_PNG = b"\x89PNG\r\n\x1a\n"
# JPEG frame headers (SOF0..SOF15) carry the size; C4 (DHT), C8 (JPG) and CC (DAC) are not SOFs.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset([0x01, 0xD8, *range(0xD0, 0xD8)])  # markers without a length field


def _be16(b: memoryview, i: int) -> int:
    return (b[i] << 8) | b[i + 1]


def _le(b: memoryview, i: int, n: int) -> int:
    return int.from_bytes(b[i : i + n], "little")


def _jpeg(b: memoryview) -> tuple[int, int] | None:
    i = 2
    while i + 9 <= len(b):
        if b[i] != 0xFF:
            return None
        marker = b[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker in _STANDALONE:
            i += 2
        elif marker in _SOF:
            return _be16(b, i + 7), _be16(b, i + 5)
        elif marker == 0xDA:  # start of scan before any frame header: not a valid JPEG
            return None
        else:
            i += 2 + _be16(b, i + 2)
    return None


def _webp(b: memoryview) -> tuple[int, int] | None:
    chunk = bytes(b[12:16])
    if chunk == b"VP8 " and len(b) >= 30:
        return _le(b, 26, 2) & 0x3FFF, _le(b, 28, 2) & 0x3FFF
    if chunk == b"VP8L" and len(b) >= 25:
        bits = _le(b, 21, 4)
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8X" and len(b) >= 30:
        return 1 + _le(b, 24, 3), 1 + _le(b, 27, 3)
    return None


def _pil(b: memoryview) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(b)) as im:  # lazy: parses the header, decodes nothing
            return int(im.size[0]), int(im.size[1])
    except Image.DecompressionBombError:
        return None  # PIL will refuse to decode it as well
    except Exception:
        return None  # not an image PIL knows: the decoder reports it


def image_size(data: memoryview) -> tuple[int, int] | None:
    """(width, height) that the header of an image file claims; None when there is no
    readable header (the decoder then reports the file as unreadable).

    data: the file's bytes (a ``memoryview`` of uint8, so that nothing is copied).
    """
    head = bytes(data[:16])
    if head.startswith(_PNG) and len(data) >= 24 and head[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if head.startswith(b"\xff\xd8"):
        return _jpeg(data) or _pil(data)
    if head[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return _le(data, 6, 2), _le(data, 8, 2)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(data) or _pil(data)
    return _pil(data)
